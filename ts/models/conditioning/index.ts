export { DUAL_PENULTIMATE_POOLED, sdxlTimeIds } from './dual-penultimate-pooled.js';
export { LAST_HIDDEN_STATE } from './last-hidden-state.js';
export { disposeTextInputs, PromptTable, type Conditioner, type Conditioning, type ImageSize, type TextEncoderFiles } from './types.js';
