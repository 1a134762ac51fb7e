// The text encoder inside single-file SD1.x checkpoints keeps Hugging Face names under
// cond_stage_model.transformer (some files omit the text_model level).

export function clipNameFromLdm(key: string): string | undefined {
  if (key.startsWith('text_model.')) return key;
  if (key.startsWith('embeddings.') || key.startsWith('encoder.') || key.startsWith('final_layer_norm.')) return `text_model.${key}`;
  return undefined;
}
