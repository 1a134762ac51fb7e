#include "transformer_config.h"

#include <string>

#include "../core/error.h"

namespace indetail {

Activation read_hidden_act(const ConfigReader& r) {
  std::string act = r.string("hidden_act");
  if (act == "quick_gelu") return Activation::QuickGELU;
  if (act == "gelu") return Activation::GELU;
  fail(ErrorKind::Unsupported, r.what(), ": hidden_act '", act, "' is not supported (supported: quick_gelu, gelu)");
}

void check_heads_divide(const ConfigReader& r, int64_t hidden_size, int64_t num_attention_heads) {
  if (hidden_size % num_attention_heads != 0)
    fail(ErrorKind::InvalidArgument, r.what(), ": hidden_size ", hidden_size, " is not divisible by num_attention_heads ",
         num_attention_heads);
}

}  // namespace indetail
