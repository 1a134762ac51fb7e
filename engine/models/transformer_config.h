// What the transformers configs of the CLIP text encoder, the CLIP vision tower and the ViT
// share beyond plain numbers, read with errors that name the model (the reader's `what`).
#pragma once
#include <cstdint>

#include "../backend.h"
#include "config_reader.h"

namespace indetail {

// hidden_act: quick_gelu (OpenAI CLIP) or gelu (OpenCLIP, ViT).
Activation read_hidden_act(const ConfigReader& r);

// hidden_size split evenly into num_attention_heads.
void check_heads_divide(const ConfigReader& r, int64_t hidden_size, int64_t num_attention_heads);

}  // namespace indetail
