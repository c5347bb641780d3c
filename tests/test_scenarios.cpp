// Scenario verdicts are computed from measurements: every rule is shown every opening it has, on
// the hand-made counts that scripts/keras_check.py's Python twin is tested on too; every quote is
// found verbatim in the article; the Keras cross-check's file is read strictly; and one
// end-to-end run of the real binary checks the table.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "tests/cli_helpers.h"
#include "host/io/json_read.h"
#include "host/scenarios/allreduce_scenario.h"
#include "host/scenarios/tp_scenario.h"
#include "host/scenarios/scenarios.h"

namespace driftlab {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

const std::string kSource = DRIFTLAB_SOURCE_DIR;

TEST(Scenarios, SharedVerdictCases) {
  const std::string text = slurp(kSource + "/tests/fixtures/verdict_cases.json");
  ASSERT_FALSE(text.empty());
  const JsonValue doc = parse_json(text);
  const JsonValue* cases = doc.find("cases");
  ASSERT_TRUE(cases && cases->is(JsonValue::Kind::array));
  std::map<std::string, std::set<std::string>> openings;  // rule -> openings seen
  for (const auto& c : cases->items) {
    std::map<std::string, double> counts;
    for (const auto& [k, v] : c.find("counts")->members) counts[k] = v.num;
    const std::string rule = c.find("rule")->str, want = c.find("opening")->str;
    const VerdictText v = verdict_by_rule(rule, counts);
    EXPECT_EQ(verdict_name(v.verdict), want) << rule << ": " << v.text;
    EXPECT_EQ(v.text.rfind(verdict_name(v.verdict), 0), 0u) << "text must start with its opening: " << v.text;
    openings[rule].insert(want);
  }
  // Every rule the scenarios use is covered, and "holds" / "does not hold" for each.
  for (const auto& c : scenario_claims()) {
    EXPECT_TRUE(openings[c.rule].count("holds")) << c.rule;
    EXPECT_TRUE(openings[c.rule].count("does not hold")) << c.rule;
  }
  EXPECT_THROW(verdict_by_rule("no_such_rule", {}), std::invalid_argument);
  EXPECT_THROW(verdict_by_rule("remnant", {}), std::invalid_argument);
}

TEST(Scenarios, VerdictsOnHandMadeCounts) {
  EXPECT_EQ(verdict_dropout_call(4, 4).verdict, Verdict::holds);
  // Example 1 as written gives identical outputs: the opening says so, then what makes it vary.
  EXPECT_EQ(verdict_dropout_call(1, 4).text.rfind("does not hold as written", 0), 0u);
  EXPECT_NE(verdict_dropout_call(1, 4).text.find("vary only with training=True"), std::string::npos);
  // How many of the unseeded training=True calls drew distinct masks is chance (a 20-unit layer's
  // masks can coincide): the count is in the measured text, never in the verdict's (issue 19).
  EXPECT_EQ(verdict_dropout_call(1, 4).text, verdict_dropout_call(1, 3).text);
  EXPECT_EQ(verdict_constant_within(1, 4).text, verdict_constant_within(1, 3).text);
  EXPECT_EQ(verdict_same_across(1, 4).text, verdict_same_across(1, 3).text);
  EXPECT_EQ(verdict_disables(1, 4).text, verdict_disables(1, 3).text);
  EXPECT_EQ(verdict_dropout_call(1, 1).verdict, Verdict::does_not_hold);
  // model.predict has no training argument: identical predict calls do not hold the claim.
  EXPECT_EQ(verdict_predict(1).verdict, Verdict::does_not_hold);
  EXPECT_NE(verdict_predict(1).text.find("no training argument"), std::string::npos);
  EXPECT_EQ(verdict_constant_within(1, 5).text.rfind("holds as written", 0), 0u);
  EXPECT_EQ(verdict_same_across(1, 3).text.rfind("holds only when dropout is off", 0), 0u);
  // Example 3: the article's model decides the opening; atomics are named with their origin and model.
  const VerdictText ex3 = verdict_inference(1, 7, "the 784-4096-4096-10 model under the seeded GPU-scheduler model");
  EXPECT_EQ(ex3.verdict, Verdict::holds);
  EXPECT_NE(ex3.text.find("7 distinct outputs on the 784-4096-4096-10 model under the seeded GPU-scheduler model"),
            std::string::npos)
      << ex3.text;
  EXPECT_EQ(verdict_inference(1, 0).text.find("atomic"), std::string::npos);
  // Remnant dropout: driftlab's model cannot test it, and says so.
  // A count of 0 measured nothing: the opening is "not tested", never a refutation.
  EXPECT_EQ(verdict_remnant(0).verdict, Verdict::not_tested);
  EXPECT_EQ(verdict_remnant(0).text.rfind("not tested here", 0), 0u) << verdict_remnant(0).text;
  EXPECT_NE(verdict_remnant(0).text.find("only real TensorFlow can test"), std::string::npos);
  EXPECT_EQ(verdict_remnant(1).verdict, Verdict::does_not_hold);
  EXPECT_NE(verdict_remnant(1).text.find("TensorFlow/Keras measured"), std::string::npos);
  EXPECT_EQ(verdict_drift(0, 9, 0).verdict, Verdict::holds_only_when);
  EXPECT_NE(verdict_drift(0, 9, 0, "the 1-2-3 model").text.find("9 ULP under the seeded GPU-scheduler model (atomics, the "
                                                                 "1-2-3 model)"),
            std::string::npos);
  EXPECT_EQ(verdict_batch(3, 1).verdict, Verdict::holds_only_when);
  EXPECT_EQ(verdict_batch(3, 0).verdict, Verdict::holds);  // 0: no invariant kernel measured (TensorFlow)
  // Attention: split-KV and sequence 0, never the dense words.
  const VerdictText kv = verdict_split_kv(3, 1);
  EXPECT_NE(kv.text.find("split-KV"), std::string::npos);
  EXPECT_NE(kv.text.find("sequence 0"), std::string::npos);
  EXPECT_EQ(kv.text.find("row 0"), std::string::npos);
  EXPECT_EQ(kv.text.find("split-K)"), std::string::npos);
  EXPECT_EQ(verdict_threads(1, 2).verdict, Verdict::holds_only_when);
  // The atomic kernel's real 2-core races are reported beside, not counted: the text speaks of
  // the kernels counted only, so that it does not contradict an atomic count in the measured text.
  EXPECT_EQ(verdict_threads(1, 0).text, "does not hold: every kernel counted gave the same bits at every thread count tried");
  EXPECT_EQ(verdict_restored(1, 3).verdict, Verdict::holds);
  EXPECT_EQ(verdict_restored(2, 3).verdict, Verdict::does_not_hold);
  EXPECT_EQ(verdict_lesser(0, 30, 40, 200, 2000000000, 1000000000).verdict, Verdict::holds);
  EXPECT_EQ(verdict_lesser(31, 30, 40, 200, 2000000000, 1000000000).verdict, Verdict::does_not_hold);
  EXPECT_NE(verdict_lesser(0, 30, 40, 200, 2000000000, 1000000000).text.find("2e-07 relative"), std::string::npos);
  EXPECT_EQ(verdict_method_param(0, 1).verdict, Verdict::holds_only_when);
  EXPECT_NE(verdict_method_param(0, 1).text.find("TypeError"), std::string::npos);
  EXPECT_EQ(verdict_outside_graph(1, 3).verdict, Verdict::does_not_hold);
  EXPECT_EQ(verdict_changes(2, 1536).text, "holds: 2 distinct outputs, up to 1536 ULP apart");
  // The all-reduce across rank counts: an order that follows the rank count moves the bits, the
  // exact all-reduce does not; the opening says so without naming counts that depend on the run.
  EXPECT_EQ(verdict_ranks(5, 1).verdict, Verdict::holds_only_when);
  EXPECT_EQ(verdict_ranks(5, 1).text.rfind("holds only when the all-reduce adds the ranks' partial sums in an order that "
                                           "follows the rank count",
                                           0),
            0u)
      << verdict_ranks(5, 1).text;
  EXPECT_NE(verdict_ranks(5, 1).text.find("exact all-reduce kept every element's bits"), std::string::npos);
  EXPECT_EQ(verdict_ranks(5, 1).text, verdict_ranks(4, 1).text);
  EXPECT_EQ(verdict_ranks(5, 0).text, "holds: the all-reduced vector took 5 distinct values across rank counts");
  EXPECT_EQ(verdict_ranks(1, 3).verdict, Verdict::holds);  // an exact all-reduce that moved: never hidden
  EXPECT_EQ(verdict_ranks(1, 1).text, "does not hold: the all-reduce gave the same bits at every rank count");
  EXPECT_EQ(verdict_ranks(0, 0).verdict, Verdict::does_not_hold);
  // Tensor parallelism across TP sizes: hand-made counts.  Partials that follow the TP size move
  // the output, the invariant split does not; the opening names the condition, not the counts.
  EXPECT_EQ(verdict_tp(4, 1).verdict, Verdict::holds_only_when);
  EXPECT_EQ(verdict_tp(4, 1).text.rfind("holds only when each GPU's share of a layer's sum follows the TP size", 0), 0u)
      << verdict_tp(4, 1).text;
  EXPECT_NE(verdict_tp(4, 1).text.find("invariant split"), std::string::npos);
  EXPECT_EQ(verdict_tp(4, 1).text, verdict_tp(3, 1).text);
  EXPECT_EQ(verdict_tp(4, 0).text, "holds: predict's output took 4 distinct values across TP sizes");
  EXPECT_EQ(verdict_tp(1, 2).verdict, Verdict::holds);  // an invariant split that moved: never hidden
  EXPECT_EQ(verdict_tp(1, 2).text, "holds: predict's output took 2 distinct values across TP sizes");
  EXPECT_EQ(verdict_tp(1, 1).text, "does not hold: predict gave the same bits at every TP size");
  EXPECT_EQ(verdict_tp(0, 0).verdict, Verdict::does_not_hold);
  EXPECT_EQ(verdict_by_rule("tp", {{"order", 5}, {"invariant", 1}}).text, verdict_tp(5, 1).text);
}

// The TP row without Open MPI: the simulation counts (ring and exact move across TP 1-8, invariant
// does not), and the row says so and why.  In-process and cheap.
TEST(Scenarios, TpRanksRowFallsBackToTheSimulationAndSaysWhy) {
  const char* old = std::getenv("DRIFTLAB_MPIRUN");
  const std::string saved = old ? old : "";
  ::setenv("DRIFTLAB_MPIRUN", "/no/such/mpirun", 1);
  const ScenarioResult r = tp_ranks_scenario(true);
  if (old) ::setenv("DRIFTLAB_MPIRUN", saved.c_str(), 1);
  else ::unsetenv("DRIFTLAB_MPIRUN");
  EXPECT_EQ(r.key, "tp_ranks");
  EXPECT_NE(r.ran.find("no Open MPI execution ("), std::string::npos) << r.ran;
  EXPECT_NE(r.ran.find("the verdict counts the simulation"), std::string::npos) << r.ran;
  std::map<std::string, double> c(r.numbers.begin(), r.numbers.end());
  EXPECT_EQ(c.at("mpi_executed"), 0);
  EXPECT_GT(c.at("order"), 1);
  EXPECT_EQ(c.at("invariant"), 1);
  EXPECT_EQ(c.at("sim_invariant_tp_max_ulp"), 0);
  EXPECT_EQ(c.at("order"), std::max(c.at("sim_ring_tp_distinct"), c.at("sim_exact_tp_distinct")));
  EXPECT_EQ(c.count("mpi_mpi_tp_distinct"), 0u);
  EXPECT_NE(r.measured.find("simulated: ring "), std::string::npos) << r.measured;
  EXPECT_EQ(verdict_by_rule("tp", c).verdict, Verdict::holds_only_when);
}

// The all-reduce row without Open MPI (mpirun not where DRIFTLAB_MPIRUN points): the simulation
// counts, and the row says so and why.  In-process and cheap (milliseconds).
TEST(Scenarios, AllreduceRanksRowFallsBackToTheSimulationAndSaysWhy) {
  const char* old = std::getenv("DRIFTLAB_MPIRUN");
  const std::string saved = old ? old : "";
  ::setenv("DRIFTLAB_MPIRUN", "/no/such/mpirun", 1);
  const ScenarioResult r = allreduce_ranks_scenario(true);
  if (old) ::setenv("DRIFTLAB_MPIRUN", saved.c_str(), 1);
  else ::unsetenv("DRIFTLAB_MPIRUN");
  EXPECT_EQ(r.key, "allreduce_ranks");
  EXPECT_NE(r.ran.find("no Open MPI execution ("), std::string::npos) << r.ran;
  EXPECT_NE(r.ran.find("the verdict counts the simulation"), std::string::npos) << r.ran;
  std::map<std::string, double> c(r.numbers.begin(), r.numbers.end());
  EXPECT_EQ(c.at("mpi_executed"), 0);
  EXPECT_GT(c.at("order"), 1);  // ring and tree move with the rank count (5 and 4 distinct at 1, 2, 3, 4, 8 ranks)
  EXPECT_EQ(c.at("exact"), 1);
  EXPECT_EQ(c.at("order"), std::max(c.at("sim_ring_ranks_distinct"), c.at("sim_tree_ranks_distinct")));
  EXPECT_EQ(c.count("mpi_mpi_ranks_distinct"), 0u);
  EXPECT_NE(r.measured.find("simulated: ring "), std::string::npos) << r.measured;
  EXPECT_EQ(verdict_by_rule("ranks", c).verdict, Verdict::holds_only_when);
}

// driftlab's model of Keras 3's seeds (measured by scripts/keras_check.py).
TEST(Scenarios, KerasSeedModel) {
  EXPECT_FALSE(keras_model_seeds(KerasSeeding::none, 42).init);
  EXPECT_FALSE(keras_model_seeds(KerasSeeding::tf_and_numpy, 42).init);
  EXPECT_FALSE(keras_model_seeds(KerasSeeding::tf_and_numpy, 42).dropout);
  EXPECT_EQ(keras_model_seeds(KerasSeeding::set_random_seed, 42).init, std::optional<std::uint64_t>(42));
  EXPECT_EQ(keras_model_seeds(KerasSeeding::set_random_seed, 42).dropout, std::optional<std::uint64_t>(42));
}

// The article with its whitespace collapsed to single spaces, and nothing else changed: markdown
// (`, *, **) stays, so a quote cannot join two bullets by dropping the "* " between them.
std::string collapse_whitespace(const std::string& s) {
  std::string out;
  for (const char c : s) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (space) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

TEST(Scenarios, QuotesAreVerbatimFromTheArticle) {
  const std::string fixture = kSource + "/tests/fixtures/article_000_214b84b0fabf931f.txt";
  const std::string shared = kSource + "/../shared/seeds/000_214b84b0fabf931f.txt";
  const std::string article = slurp(fixture);
  ASSERT_GT(article.size(), 1000u) << fixture;
  if (std::filesystem::exists(shared)) {
    EXPECT_EQ(slurp(shared), article) << "the fixture is a copy of " << shared;
  }
  const std::string text = collapse_whitespace(article);
  const std::vector<std::string> sections = {"Example 1",     "Example 2",     "Example 3", "Explanation 1",
                                             "Explanation 2", "Explanation 3", "Conclusion"};
  std::set<std::string> keys, seen;
  std::vector<ScenarioClaim> all = scenario_claims();
  for (const auto& c : keras_only_claims()) all.push_back(c);
  for (const auto& c : all) {
    EXPECT_TRUE(keys.insert(c.key).second) << "duplicate key " << c.key;
    if (c.source == "not in the article") continue;
    // "Example 3, commentary bullet 1": a section, then where in it.
    const auto comma = c.source.find(", ");
    ASSERT_NE(comma, std::string::npos) << c.key << ": source '" << c.source << "' says not where in its section";
    const std::string section = c.source.substr(0, comma);
    EXPECT_NE(std::find(sections.begin(), sections.end(), section), sections.end()) << c.key << ": " << c.source;
    seen.insert(section);
    EXPECT_EQ(c.claim.find("..."), std::string::npos) << c.key << ": no ellipsis in a quote";
    const std::string quote = collapse_whitespace(c.claim);
    EXPECT_EQ(quote, c.claim) << c.key << ": a quote is written with single spaces";
    const auto at = text.find(quote);
    EXPECT_NE(at, std::string::npos) << c.key << ": not in the article: " << c.claim;
    // One bullet or sentence group: it starts a sentence (after a space) and ends one, and no
    // bullet marker or heading is inside it.
    if (at != std::string::npos && at > 0) {
      EXPECT_EQ(text[at - 1], ' ') << c.key;
    }
    EXPECT_TRUE(c.claim.back() == '.' || c.claim.back() == ')') << c.key << ": ends mid-sentence";
    EXPECT_EQ(quote.find(" * "), std::string::npos) << c.key << ": joins two bullets";
    EXPECT_EQ(quote.find("**"), std::string::npos) << c.key << ": crosses a heading";
  }
  // Every section the issue asks for is there; Example 3's two bullets are two rows.
  for (const auto& s : sections) EXPECT_TRUE(seen.count(s)) << s;
  std::size_t ex3 = 0;
  for (const auto& c : scenario_claims()) ex3 += c.source.rfind("Example 3, commentary bullet", 0) == 0;
  EXPECT_EQ(ex3, 2u);
}

TEST(Scenarios, JsonReader) {
  const JsonValue v = parse_json(R"( {"a": [1, -2.5e1, true, false, null], "s": "x\"\u00e9\n", "o": {}} )");
  ASSERT_TRUE(v.is(JsonValue::Kind::object));
  ASSERT_EQ(v.find("a")->items.size(), 5u);
  EXPECT_EQ(v.find("a")->items[1].num, -25.0);
  EXPECT_TRUE(v.find("a")->items[2].b);
  EXPECT_FALSE(v.find("a")->items[3].b);
  EXPECT_TRUE(v.find("a")->items[4].is(JsonValue::Kind::null));
  EXPECT_EQ(v.find("s")->str, "x\"\xc3\xa9\n");
  EXPECT_EQ(v.find("missing"), nullptr);
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "\"abc", "tru", "1 2", "{\"a\":01x}", "[\"\x01\"]"})
    EXPECT_THROW(parse_json(bad), JsonError) << bad;
  std::string deep(100, '[');
  EXPECT_THROW(parse_json(deep), JsonError);
}

std::string write_tmp(const std::string& name, const std::string& text) {
  const std::string p = std::string(DRIFTLAB_TEST_TMP) + "/" + name;
  std::ofstream(p) << text;
  return p;
}

TEST(Scenarios, KerasCheckFileIsReadStrictly) {
  const std::string good = write_tmp("kc_good.json", R"({"tool": "keras_check", "tensorflow": "2.21.0", "keras": "3.15.1",
    "scenarios": [{"key": "drift", "source": "Explanation 3", "ran": "r", "verdict": "does not hold", "rule": "drift",
                   "verdict_text": "does not hold here",
                   "numbers": {"max_ulp": 0, "model_max_ulp": 0, "argmax_flips": 0, "seen": [1, 2]}}]})");
  const KerasCheck k = load_keras_check(good);
  EXPECT_EQ(k.tensorflow, "2.21.0");
  ASSERT_EQ(k.rows.count("drift"), 1u);
  EXPECT_EQ(k.rows.at("drift").numbers.count("max_ulp"), 1u);
  EXPECT_EQ(k.rows.at("drift").numbers.count("seen"), 0u);  // only numbers are kept

  auto message = [](const std::string& path) {
    try {
      load_keras_check(path);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  for (const auto& [name, text] : std::vector<std::pair<std::string, std::string>>{
           {"kc_notjson.json", "not json"},
           {"kc_tool.json", R"({"tool": "other", "tensorflow": "x", "keras": "y", "scenarios": []})"},
           {"kc_empty.json", R"({"tool": "keras_check", "tensorflow": "x", "keras": "y", "scenarios": []})"},
           {"kc_verdict.json", R"({"tool": "keras_check", "tensorflow": "x", "keras": "y", "scenarios": [
              {"key": "a", "source": "s", "ran": "r", "verdict": "maybe", "verdict_text": "t"}]})"},
           // a verdict that does not follow from the counts beside it
           {"kc_inconsistent.json", R"({"tool": "keras_check", "tensorflow": "x", "keras": "y", "scenarios": [
              {"key": "a", "source": "s", "ran": "r", "rule": "remnant", "verdict": "holds", "verdict_text": "holds",
               "numbers": {"distinct": 1}}]})"},
           {"kc_rule.json", R"({"tool": "keras_check", "tensorflow": "x", "keras": "y", "scenarios": [
              {"key": "a", "source": "s", "ran": "r", "rule": "nonsense", "verdict": "holds", "verdict_text": "holds",
               "numbers": {}}]})"}}) {
    const std::string m = message(write_tmp(name, text));
    EXPECT_NE(m.find("--keras"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  EXPECT_NE(message("/nonexistent/kc.json").find("cannot read"), std::string::npos);
  EXPECT_NE(message(std::string(DRIFTLAB_TEST_TMP) + "/kc_inconsistent.json").find("does not follow from its counts"),
            std::string::npos);
  EXPECT_NE(message(std::string(DRIFTLAB_TEST_TMP) + "/kc_rule.json").find("unknown verdict rule"), std::string::npos);
}

TEST(Scenarios, BadKerasFileOnTheCommandLine) {
  const auto missing = testing::cli({"scenarios", "--quick", "--backend", "cpu", "--keras", "/nonexistent/kc.json"});
  EXPECT_EQ(missing.code, 1);
  testing::expect_one_line_error(missing, "--keras");
  const auto bad = testing::cli({"scenarios", "--quick", "--keras", write_tmp("kc_cli.json", "{\"tool\": 1}")});
  EXPECT_EQ(bad.code, 1);
  testing::expect_one_line_error(bad, "not a scripts/keras_check.py output");
  const auto no_value = testing::cli({"scenarios", "--keras"});
  EXPECT_EQ(no_value.code, 2);
  testing::expect_one_line_error(no_value, "--keras");
  const auto report = testing::cli({"report", "--quick", "--out", std::string(DRIFTLAB_TEST_TMP) + "/kc-report",
                                    "--keras", "/nonexistent/kc.json"});
  EXPECT_EQ(report.code, 1);
  testing::expect_one_line_error(report, "--keras");
}

// The disagreement a reader sees is computed from the two sets of counts.
TEST(Scenarios, DisagreementsAreExplained) {
  ScenarioResult r;
  r.key = "drift";
  r.verdict = Verdict::holds_only_when;
  r.verdict_text = "holds only when ...";
  r.numbers = {{"max_ulp", 0}, {"model_max_ulp", 448}, {"distinct_fixed_order", 1}};
  KerasRow k;
  k.verdict = "does not hold";
  k.numbers = {{"max_ulp", 0}};
  const std::string why = explain_disagreement(r, k);
  EXPECT_NE(why.find("448 ULP"), std::string::npos) << why;
  EXPECT_NE(why.find("fixed-order"), std::string::npos) << why;
  k.verdict = "holds only when";
  EXPECT_EQ(explain_disagreement(r, k), "");
  // A claim driftlab's model cannot test: the Keras column is named as the only measurement.
  r.key = "remnant_dropout";
  r.verdict = Verdict::not_tested;
  k.verdict = "does not hold";
  EXPECT_NE(explain_disagreement(r, k).find("the only measurement"), std::string::npos) << explain_disagreement(r, k);
  // ... and the printed row does not call it a disagreement.
  r.keras = k;
  r.keras->verdict_text = "does not hold in the TensorFlow/Keras measured";
  r.disagreement = explain_disagreement(r, k);
  std::ostringstream printed;
  print_scenarios({r}, printed, nullptr);
  EXPECT_NE(printed.str().find("keras alone:"), std::string::npos) << printed.str();
  EXPECT_EQ(printed.str().find("they disagree"), std::string::npos) << printed.str();
}

// The whole command as a user runs it (about ten seconds on 2 cores), with the Keras columns
// from a recorded cross-check (tests/fixtures/keras_check.json, a real scripts/keras_check.py run).
TEST(Scenarios, EndToEndQuickRunOnTheCpu) {
  const std::string json = std::string(DRIFTLAB_TEST_TMP) + "/scenarios.json";
  const std::string cmd = std::string(DRIFTLAB_EXE) + " scenarios --quick --backend cpu --keras " + kSource +
                          "/tests/fixtures/keras_check.json --json " + json + " >/dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;
  const JsonValue doc = parse_json(slurp(json));
  const JsonValue* rows = doc.find("rows");
  ASSERT_TRUE(rows && rows->is(JsonValue::Kind::array));
  ASSERT_EQ(rows->items.size(), scenario_claims().size());
  std::map<std::string, std::string> verdicts;
  for (const auto& row : rows->items) {
    const std::string key = row.find("key")->str;
    verdicts[key] = row.find("verdict")->str;
    EXPECT_TRUE(row.find("source") && row.find("claim")) << key;
    const JsonValue* k = row.find("keras");
    // keras_check.py has no counterpart: its models have no attention, run in float32 on one process.
    if (key == "attention_batch" || key == "bf16_rounding" || key == "allreduce_ranks" || key == "tp_ranks") {
      EXPECT_EQ(k, nullptr) << key;
      continue;
    }
    ASSERT_TRUE(k && k->find("verdict")) << key << ": no keras object";
    // A disagreement is reported exactly when the openings differ.
    EXPECT_EQ(row.find("disagreement") != nullptr, k->find("verdict")->str != verdicts[key]) << key;
  }
  // Outcomes that do not depend on timing: seeds, separate processes, and seeded schedules.
  EXPECT_EQ(verdicts["example1"], "does not hold");  // as written it runs in inference mode
  EXPECT_EQ(verdicts["predict_dropout"], "does not hold");  // predict has no training argument
  EXPECT_EQ(verdicts["example2_within_article"], "holds");  // as written: inference mode
  EXPECT_EQ(verdicts["example2_across_article"], "does not hold");  // tf+np seeds leave Keras's seeds fresh
  EXPECT_EQ(verdicts["example2_outside_graph"], "does not hold");
  EXPECT_EQ(verdicts["example2_across_keras_seed"], "holds");
  EXPECT_EQ(verdicts["example3_disables"], "holds");
  EXPECT_EQ(verdicts["example3"], "holds");  // the article's model as written
  EXPECT_EQ(verdicts["remnant_dropout"], "not tested");  // driftlab's model has no dropout at training=False
  EXPECT_EQ(verdicts["restored"], "holds");
  EXPECT_EQ(verdicts["init"], "holds");
  EXPECT_EQ(verdicts["lesser"], "holds");
  EXPECT_EQ(verdicts["drift"], "holds only when");  // the seeded scheduler model, not real races
  EXPECT_EQ(verdicts["conclusion_training_false"], "holds only when");
  EXPECT_EQ(verdicts["batch"], "holds only when");  // split-K is not batch-invariant; invariant is
  EXPECT_EQ(verdicts["threads"], "does not hold");  // fixed-order kernels; atomics' real races not counted
  EXPECT_EQ(verdicts["allreduce_ranks"], "holds only when");  // ring and tree move with the rank count, exact does not
  // The all-reduce row in the JSON: its counts, and on Open MPI (when it ran) every execution of
  // ring, tree and exact equal to its simulation; when it did not run, the row says why.
  for (const auto& row : rows->items) {
    if (row.find("key")->str != "allreduce_ranks") continue;
    const JsonValue* nums = row.find("numbers");
    ASSERT_TRUE(nums) << "allreduce_ranks: no numbers";
    EXPECT_GT(nums->find("order")->num, 1);
    EXPECT_EQ(nums->find("exact")->num, 1);
    EXPECT_EQ(row.find("rule")->str, "ranks");
    if (nums->find("mpi_executed")->num == 1) {
      EXPECT_GT(nums->find("mpi_checked_against_simulation")->num, 0);
      EXPECT_EQ(nums->find("mpi_matches_simulation")->num, nums->find("mpi_checked_against_simulation")->num);
      EXPECT_EQ(nums->find("mpi_exact_ranks_distinct")->num, 1);
    } else {
      EXPECT_NE(row.find("ran")->str.find("no Open MPI execution ("), std::string::npos) << row.find("ran")->str;
    }
  }
  EXPECT_EQ(verdicts["tp_ranks"], "holds only when");  // ring and exact move with the TP size, invariant does not
  for (const auto& row : rows->items) {
    if (row.find("key")->str != "tp_ranks") continue;
    const JsonValue* nums = row.find("numbers");
    ASSERT_TRUE(nums) << "tp_ranks: no numbers";
    EXPECT_GT(nums->find("order")->num, 1);
    EXPECT_EQ(nums->find("invariant")->num, 1);
    EXPECT_EQ(row.find("rule")->str, "tp");
    if (nums->find("mpi_executed")->num == 1) {
      EXPECT_GT(nums->find("mpi_checked_against_simulation")->num, 0);
      EXPECT_EQ(nums->find("mpi_matches_simulation")->num, nums->find("mpi_checked_against_simulation")->num);
      EXPECT_EQ(nums->find("mpi_invariant_tp_distinct")->num, 1);
    } else {
      EXPECT_NE(row.find("ran")->str.find("no Open MPI execution ("), std::string::npos) << row.find("ran")->str;
    }
  }
  // The rows only real TensorFlow measures follow, with their claims.
  const JsonValue* only = doc.find("keras_only");
  ASSERT_TRUE(only && only->is(JsonValue::Kind::array));
  std::set<std::string> only_keys;
  for (const auto& row : only->items) {
    only_keys.insert(row.find("key")->str);
    EXPECT_EQ(row.find("claim")->str.front() == '(', false) << row.find("key")->str << ": no claim for it";
  }
  std::set<std::string> want;
  for (const auto& c : keras_only_claims()) want.insert(c.key);
  EXPECT_EQ(only_keys, want);
}

// The same machine gives the same verdicts run after run (issue 19): five quick runs, every row's
// verdict text compared.  Counts that depend on whether a real 2-core atomic race happened are
// reported in the measured text, never counted in a verdict.
TEST(Scenarios, StableVerdictsInFiveRunsEndToEnd) {
  std::map<std::string, std::string> first;
  for (int run = 0; run < 5; ++run) {
    const std::string json = std::string(DRIFTLAB_TEST_TMP) + "/scenarios_stable.json";
    const std::string cmd = std::string(DRIFTLAB_EXE) + " scenarios --quick --backend cpu --json " + json + " >/dev/null 2>&1";
    const int status = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;
    const JsonValue doc = parse_json(slurp(json));
    std::map<std::string, std::string> texts;
    for (const auto& row : doc.find("rows")->items) texts[row.find("key")->str] = row.find("verdict_text")->str;
    ASSERT_EQ(texts.size(), scenario_claims().size());
    if (run == 0) {
      first = texts;
      continue;
    }
    for (const auto& [key, text] : texts) EXPECT_EQ(text, first[key]) << "run " << run + 1 << ", row " << key;
  }
}

}  // namespace
}  // namespace driftlab
