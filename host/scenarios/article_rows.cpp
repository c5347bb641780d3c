// The scenario rows on the article's code itself (scenario_rows.h): Example 1 as written, Example 2's
// seeds within and across processes, Example 3's two bullets, weights restored from a file and
// initialised with and without a seed, and the Conclusion's training=False advice.
#include "host/scenarios/scenario_rows.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>

#include "host/io/array.h"
#include "host/io/npz.h"
#include "host/model/model.h"

namespace driftlab::scenario_rows {

// Example 1 as written: model(input_data) with no training argument runs in inference mode in
// Keras; model.predict does too.  driftlab's predict without --training is that mode.
void Scenarios::example1() {
  PredictArgs a = run.small(KerasSeeding::none, 0);
  a.runs = 4 * calls;
  as_written = run.distinct(a, "Example 1 as written (inference mode), unseeded");
  a.training = true;
  a.runs = calls;
  training_true = run.distinct(a, "Example 1 with training=True, unseeded");
  add({.key = "example1",
       .ran = "the article's 10-20-10 model, dropout 0.5, no seed: " + n(4 * calls) +
                " calls as written (no training argument = inference mode), " + n(calls) +
                " calls with training=True, invariant kernel, real runs",
       .measured = "as written: " + n(as_written) + " distinct output(s) of " + n(4 * calls) + "; training=True: " + n(training_true) +
                " of " + n(calls),
       .numbers = {{"as_written", double(as_written)}, {"training_true", double(training_true)}}});
  add({.key = "predict_dropout",
       .ran = "the as-written runs above: driftlab's model of Keras 3's model.predict is inference mode (it has no training "
                "argument: keras_check.py measures the TypeError)",
       .measured = "model.predict (inference mode): " + n(as_written) + " distinct output(s) of " + n(4 * calls) + " calls",
       .numbers = {{"predict", double(as_written)}}});
  add({.key = "remnant_dropout",
       .ran = "nothing: driftlab's model has no dropout code on the training=False path, so it cannot keep dropout there; "
                "only real TensorFlow can answer this (scripts/keras_check.py, then --keras)",
       .measured = "not measurable in driftlab's model (its " + n(4 * calls) + " training=False calls above gave " + n(as_written) +
                " distinct output(s), by construction)",
       .numbers = {{"distinct", 0.0}}});
}

// Example 2, within a process and across fresh processes, for the article's two seeds and for
// keras.utils.set_random_seed.
void Scenarios::example2() {
  for (const auto& [seeding, key, what] :
       {std::tuple{KerasSeeding::tf_and_numpy, "article", "tf.random.set_seed(42); np.random.seed(42)"},
        std::tuple{KerasSeeding::set_random_seed, "keras_seed", "keras.utils.set_random_seed(42)"}}) {
    const ModelSeeds ms = keras_model_seeds(seeding, 42);
    const std::string seeds_text = std::string(what) + " -> driftlab init seed " +
                                   (ms.init ? std::to_string(*ms.init) : "fresh") + ", dropout seed " +
                                   (ms.dropout ? std::to_string(*ms.dropout) : "fresh");
    PredictArgs a = run.small(seeding, 42);
    a.runs = calls;
    const std::size_t w_as = run.distinct(a, std::string("Example 2 within a process, ") + what);
    a.training = true;
    const std::size_t w_tr = run.distinct(a, std::string("Example 2 within a process, training=True, ") + what);
    add({.key = std::string("example2_within_") + key,
         .ran = seeds_text + "; " + n(calls) + " calls as written and " + n(calls) + " with training=True, one process",
         .measured = "as written: " + n(w_as) + " distinct of " + n(calls) + "; training=True: " + n(w_tr) + " of " + n(calls),
         .numbers = {{"as_written", double(w_as)}, {"training_true", double(w_tr)}}});
    a.runs = 1;
    a.processes = procs;
    a.training = false;
    const std::size_t x_as = run.distinct(a, std::string("Example 2 across processes, ") + what);
    if (seeding == KerasSeeding::tf_and_numpy) {
      // np.random.seed fixes the NumPy input (driftlab: the input's --seed, fixed); the weights'
      // seeds come from where driftlab's model of Keras 3 places them (fresh).
      PredictArgs in = run.small(KerasSeeding::set_random_seed, 42);  // weights fixed: only the input can differ
      in.runs = 1;
      in.processes = procs;
      const std::size_t inputs = run.distinct(in, "Example 2: the NumPy input across processes (weights fixed)");
      add({.key = "example2_outside_graph",
           .ran = seeds_text + "; " + n(procs) + " fresh processes: the input (NumPy's, seeded) with the weights fixed, then "
                    "the weights as the article's seeds leave them",
           .measured = "input: " + n(inputs) + " distinct output(s) of " + n(procs) + " processes; weights: " + n(x_as) + " of " +
                    n(procs),
           .numbers = {{"input", double(inputs)}, {"weights", double(x_as)}}});
    }
    a.training = true;
    const std::size_t x_tr = run.distinct(a, std::string("Example 2 across processes, training=True, ") + what);
    add({.key = std::string("example2_across_") + key,
         .ran = seeds_text + "; the first call in " + n(procs) + " fresh processes, as written and with training=True",
         .measured = "as written: " + n(x_as) + " distinct of " + n(procs) + " processes; training=True: " + n(x_tr) + " of " + n(procs),
         .numbers = {{"as_written", double(x_as)}, {"training_true", double(x_tr)}}});
  }
}

// Example 3 as written (the article's model, training=False, no seed) on the fixed-order
// kernels; then the atomic kernels on the wide model, where split-K partials can race.
void Scenarios::example3() {
  PredictArgs a = run.base();
  a.runs = 4 * calls;
  a.variant = "all";
  const auto rep = run.predict(a, "Example 3 as written: the article's model, training=False, unseeded, every kernel");
  std::size_t det = 1;
  for (const auto v : {DenseVariant::tree, DenseVariant::invariant})
    det = std::max(det, only_row(rep, v).drift.distinct_outputs);
  const std::size_t small_atomic = only_row(rep, DenseVariant::atomic).drift.distinct_outputs;
  add({.key = "example3_disables",
       .ran = "the Example 1 runs: the article's 10-20-10 model, dropout 0.5, no seed, " + n(4 * calls) +
                " calls with training=False and " + n(calls) + " with training=True, real runs",
       .measured = "training=False: " + n(as_written) + " distinct output(s) of " + n(4 * calls) + "; training=True: " +
                n(training_true) + " of " + n(calls),
       .numbers = {{"training_false", double(as_written)}, {"training_true", double(training_true)}}});
  PredictArgs w = run.base();
  w.runs = calls;
  w.layers = o.wide;  // big enough for split-K atomics to have partials to race
  w.batch = 16;
  w.init_seed = 3;  // seeded, so that the scheduler model's count is the same every run
  w.variant = "atomic";
  const auto wrep = run.predict(w, "Example 3 on the wide model: atomic kernels, real runs");
  const PredictRow real = only_row(wrep, DenseVariant::atomic);
  std::string measured = "the article's model, " + n(4 * calls) + " calls each: tree and invariant " + n(det) +
                         " distinct output(s), atomic " + n(small_atomic) + " (real runs); " + wide +
                         ", batch 16, atomic: " + n(real.drift.distinct_outputs) + " distinct of " + n(calls) +
                         " calls in real runs (" + wrep.atomic_note.substr(0, wrep.atomic_note.find(" --")) + ")";
  std::size_t model_distinct = 0;
  if (cpu_backend) {  // CPU atomics rarely race on 2 cores, and not the same way twice: the seeded model counts
    w.shuffle_seed = 1;
    const auto m = only_row(run.predict(w, "Example 3: atomic kernels under the seeded scheduler model"), DenseVariant::atomic);
    model_distinct = m.drift.distinct_outputs;
    measured += "; under the seeded GPU-scheduler MODEL: " + n(model_distinct) + " distinct, up to " +
                std::to_string(m.drift.max_ulp) + " ULP (the verdict counts the model: real 2-core races depend on timing)";
  } else {
    model_distinct = real.drift.distinct_outputs;  // a GPU's atomics: the real runs are the count
  }
  add({.key = "example3",
       .ran = "the article's model as written (10-20-10, training=False, no seed, " + n(4 * calls) + " calls, tree, invariant, "
                "atomic, " + rep.backend + "); " + wide + " (init seed 3), batch 16, " + n(calls) + " calls, atomic kernels" +
                (cpu_backend ? ", real and under the seeded scheduler model" : ""),
       .measured = measured,
       .numbers = {{"deterministic", double(det)},
                {"atomic", double(model_distinct)},
                {"article_model_atomic_real_distinct", double(small_atomic)},
                {"wide_atomic_real_distinct", double(real.drift.distinct_outputs)}}},
      wide + (cpu_backend ? " under the seeded GPU-scheduler model" : " in real GPU runs"));
}

// Weights restored from a saved file in fresh processes (Explanation 2, sentence 1).
void Scenarios::restored() {
  const Model m = make_model({10, 20, 10}, 0.5f, entropy_seed());
  std::map<std::string, HostArray> arrays;
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    // "W" + a named string, never + a temporary: GCC 12 at -O3 misreads the latter (-Wrestrict, GCC PR 105329).
    const std::string index = std::to_string(i);
    arrays["W" + index] = HostArray{DType::f32, {l.K, l.N}, l.W, {}, {}};
    arrays["b" + index] = HostArray{DType::f32, {l.N}, l.b, {}, {}};
  }
  const std::string path = (tmp / "restored.npz").string();
  npz::write(path, arrays, false);
  PredictArgs a = run.small(KerasSeeding::none, 0);
  a.weights = path;
  a.runs = 1;
  a.processes = procs;
  const std::size_t restored = run.distinct(a, "weights from an unseeded init, saved, restored in separate processes");
  a = run.small(KerasSeeding::none, 0);
  a.runs = 1;
  a.processes = procs;
  unseeded = run.distinct(a, "weights from unseeded init, separate processes");
  add({.key = "restored",
       .ran = "the article's 10-20-10 model initialised unseeded once, its weights saved to an .npz and restored (--weights) "
                "in " + n(procs) + " fresh processes, training=False; beside it " + n(procs) + " processes rebuilding it unseeded",
       .measured = "restored: " + n(restored) + " distinct output(s) of " + n(procs) + " processes; rebuilt unseeded: " + n(unseeded) +
                " of " + n(procs),
       .numbers = {{"restored", double(restored)}, {"rebuilt", double(unseeded)}}});
}

// Weight initialisation across processes, without and with a seed.
void Scenarios::init() {
  PredictArgs a = run.small(KerasSeeding::set_random_seed, 7);
  a.runs = 1;
  a.processes = procs;
  const std::size_t seeded = run.distinct(a, "weights from seeded init, separate processes");
  add({.key = "init",
       .ran = "10-20-10, training=False, " + n(procs) + " processes, init unseeded (the restored row's rebuilds) vs seeded "
                "(set_random_seed(7) -> init seed 7)",
       .measured = "unseeded: " + n(unseeded) + " distinct outputs of " + n(procs) + " processes; seeded: " + n(seeded),
       .numbers = {{"unseeded", double(unseeded)}, {"seeded", double(seeded)}}});
}

// The Conclusion's training=False advice, from the Example 1 runs.
void Scenarios::conclusion() {
  add({.key = "conclusion_training_false",
       .ran = "the Example 1 runs (training=False); that model.predict has no training parameter is driftlab's model of "
                "Keras 3 (keras_check.py measures the TypeError)",
       .measured = "model(x, training=False): " + n(as_written) + " distinct output(s) of " + n(4 * calls) + " calls",
       .numbers = {{"predict_takes_training", 0.0}, {"distinct", double(as_written)}}});
}

}  // namespace driftlab::scenario_rows
