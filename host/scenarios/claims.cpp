// The article's claims, quoted verbatim (tests/test_scenarios.cpp finds each in the article), and
// the rows only real TensorFlow measures.
#include "host/scenarios/scenarios.h"


namespace driftlab {

// Quotes, copied from the article exactly, one bullet or sentence group each, with where it is
// (tests/test_scenarios.cpp finds each in the article after collapsing whitespace, nothing else).
const std::vector<ScenarioClaim>& scenario_claims() {
  static const std::vector<ScenarioClaim> claims = {
      {"example1", "Example 1, commentary bullet 2", "dropout_call",
       "When the model is called multiple times, we can see varying outputs, even with identical input data. This is "
       "because of random application of dropout during each call."},
      {"predict_dropout", "Explanation 1, sentences 2-3", "predict",
       "During inference (i.e. when `model.predict` is called), if `training=True` is not explicitly set to `False`, "
       "these dropout masks will still be applied, albeit with a different random mask each time the method is called. "
       "This causes varying outputs because different units are dropped during each prediction."},
      {"remnant_dropout", "Explanation 1, sentence 4", "remnant",
       "Even if `training=False` is specified during the prediction, the internal mechanisms in some versions of "
       "TensorFlow might still have remnant dropout functionality."},
      {"example2_within_article", "Example 2, commentary bullet 2, sentence 1", "constant_within",
       "Notice that the predictions now remain constant across multiple calls."},
      {"example2_outside_graph", "Example 2, commentary bullet 2, sentence 2", "outside_graph",
       "Setting both TensorFlow and Numpy seeds helps capture any variation introduced outside the TensorFlow graph."},
      {"example2_across_article", "Example 2, commentary bullet 1", "same_across",
       "`tf.random.set_seed(42)` and `np.random.seed(42)` are used before model instantiation. This ensures that dropout "
       "masks are generated using the same initial seed."},
      {"example2_within_keras_seed", "not in the article", "constant_within",
       "keras.utils.set_random_seed(42) in place of the article's two seeds: the predictions remain constant across "
       "multiple calls"},
      {"example2_across_keras_seed", "not in the article", "same_across",
       "keras.utils.set_random_seed(42) in place of the article's two seeds: every fresh process draws the same weights "
       "and dropout masks"},
      {"example3_disables", "Example 3, commentary bullet 1", "disables",
       "When `training=False` is explicitly set during prediction, it disables dropout layers."},
      {"example3", "Example 3, commentary bullet 2", "inference",
       "You should expect deterministic results across different predictions even if no seed is specified."},
      {"restored", "Explanation 2, sentence 1", "restored",
       "If, during the loading process or a re-initialization of the weights (which should ideally not occur between "
       "inference runs using the same saved model), there is no fixed seed set for random number generators, model "
       "weights can change if not restored explicitly from previously saved states."},
      {"init", "Explanation 2, sentence 3", "init",
       "If users are re-building a model and re-initializing the weights multiple times, such variations in starting "
       "points will have an impact."},
      {"lesser", "Explanation 3, sentence 2", "lesser",
       "This is especially true with operations involving floating-point arithmetic and is more difficult to isolate, "
       "making it a less significant contributor to overall variability when working with a pre-trained, fixed model."},
      {"drift", "Explanation 3, sentence 3", "drift",
       "Operations like summation that, in a serial calculation, would be equivalent to associative, can sometimes "
       "produce very slightly different output values in concurrent calculations."},
      {"conclusion_training_false", "Conclusion, sentence 3", "method_param",
       "However, the most appropriate method for achieving this is to ensure `training=False` is set in the method "
       "parameters for model inference."},
      {"batch", "not in the article", "batch", "the batch a row is predicted in changes its bits"},
      {"threads", "not in the article", "threads", "the number of threads changes a row's bits"},
      {"attention_batch", "not in the article", "split_kv",
       "(LLM serving) the batch you are served in changes your output: decode attention whose KV split is chosen from "
       "the batch (split-KV)"},
      {"bf16_rounding", "not in the article", "drift",
       "(bf16 inference) float32 drift survives rounding the output to bfloat16: weights and activations in bf16, "
       "float32 accumulation, atomic kernels"},
      {"allreduce_ranks", "not in the article", "ranks",
       "(data-parallel training, tensor-parallel inference) the number of ranks changes the bits: the same gradient "
       "shards all-reduced over 1, 2, 3, 4 or 8 ranks"},
      {"tp_ranks", "not in the article", "tp",
       "(tensor-parallel inference) splitting a layer over more GPUs changes predict's output: each dense layer's K "
       "split over 1, 2, 3, 4 or 8 ranks and the partial outputs all-reduced"},
  };
  return claims;
}

const std::vector<ScenarioClaim>& keras_only_claims() {
  static const std::vector<ScenarioClaim> claims = {
      {"predict_batch", "not in the article", "changes",
       "model.predict(x, batch_size=1) and model.predict(x, batch_size=32) give the same 32 rows different bits"},
      {"onednn", "not in the article", "changes", "switching oneDNN off (TF_ENABLE_ONEDNN_OPTS=0) changes a row's bits"},
      {"op_determinism", "not in the article", "changes",
       "with enable_op_determinism() or TF_DETERMINISTIC_OPS=1, the batch still changes row 0's bits"},
      {"legacy_seeds", "not in the article", "same_across",
       "under tf_keras 2.21 (TF_USE_LEGACY_KERAS=1) the article's two seeds make Example 2 repeat across fresh processes"},
  };
  return claims;
}

}  // namespace driftlab
