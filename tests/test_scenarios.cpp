// Scenario verdicts are computed from measurements: each verdict function is shown both
// outcomes, and one end-to-end run of the real binary checks the table's six rows.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <string>

#include "scenarios.h"

namespace driftlab {
namespace {

TEST(Scenarios, VerdictsFollowTheMeasurements) {
  EXPECT_EQ(verdict_dropout_varies(5).verdict, Verdict::holds);
  EXPECT_EQ(verdict_dropout_varies(1).verdict, Verdict::does_not_hold);

  EXPECT_EQ(verdict_fixed_seed(1, 1).verdict, Verdict::holds);
  EXPECT_EQ(verdict_fixed_seed(5, 1).verdict, Verdict::holds_only_when);
  EXPECT_NE(verdict_fixed_seed(5, 1).text.find("across processes"), std::string::npos);
  EXPECT_EQ(verdict_fixed_seed(1, 3).verdict, Verdict::holds_only_when);
  EXPECT_EQ(verdict_fixed_seed(4, 3).verdict, Verdict::does_not_hold);

  EXPECT_EQ(verdict_inference(1, 1).verdict, Verdict::holds);
  EXPECT_EQ(verdict_inference(1, 7).verdict, Verdict::holds_only_when);
  EXPECT_EQ(verdict_inference(2, 7).verdict, Verdict::does_not_hold);

  EXPECT_EQ(verdict_init(3, 1).verdict, Verdict::holds);
  EXPECT_EQ(verdict_init(1, 1).verdict, Verdict::does_not_hold);
  EXPECT_EQ(verdict_init(3, 3).verdict, Verdict::does_not_hold);

  EXPECT_EQ(verdict_reduction_drift(0, 0, 0).verdict, Verdict::does_not_hold);
  EXPECT_EQ(verdict_reduction_drift(12, 0, 1e-7).verdict, Verdict::holds);
  EXPECT_EQ(verdict_reduction_drift(12, 2, 1e-3).verdict, Verdict::holds_only_when);

  EXPECT_EQ(verdict_batch(3, 1).verdict, Verdict::holds);
  EXPECT_EQ(verdict_batch(1, 1).verdict, Verdict::does_not_hold);
  EXPECT_EQ(verdict_batch(3, 2).verdict, Verdict::does_not_hold);
}

// The whole command as a user runs it (about half a minute on 2 cores).
TEST(Scenarios, EndToEndQuickRunOnTheCpu) {
  const std::string json = std::string(DRIFTLAB_TEST_TMP) + "/scenarios.json";
  const std::string cmd =
      std::string(DRIFTLAB_EXE) + " scenarios --quick --backend cpu --json " + json + " >/dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;
  std::ifstream f(json);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::regex row("\"id\": ([0-9]+),[^}]*\"verdict\": \"([a-z ]+)\"");
  std::map<int, std::string> verdicts;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), row); it != std::sregex_iterator(); ++it)
    verdicts[std::stoi((*it)[1])] = (*it)[2];
  ASSERT_EQ(verdicts.size(), 6u) << text;
  // Outcomes that do not depend on timing: seeded schedules, seeds, and separate processes.
  EXPECT_EQ(verdicts[1], "holds");            // dropout at predict time varies the output
  EXPECT_EQ(verdicts[2], "holds only when");  // a seed repeats across processes, not across calls
  EXPECT_EQ(verdicts[3], "holds only when");  // deterministic kernels only
  EXPECT_EQ(verdicts[4], "holds");            // unseeded init differs between processes
  EXPECT_EQ(verdicts[6], "holds");            // split-K is not batch-invariant; invariant is
}

}  // namespace
}  // namespace driftlab
