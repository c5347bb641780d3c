// `driftlab scenarios`'s table, JSON and markdown (REPORT.md), with Keras's verdicts beside.
#include "host/scenarios/scenarios.h"
#include <algorithm>
#include <cctype>
#include <iomanip>
#include <sstream>

#include "host/io/json.h"
#include "host/metrics/metrics.h"

namespace driftlab {

namespace {
std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string section(const std::string& source) { return source.substr(0, source.find(',')); }

std::vector<const KerasRow*> keras_only_rows(const std::vector<ScenarioResult>& rs, const KerasCheck& k) {
  std::vector<const KerasRow*> out;
  for (const auto& entry : k.rows)  // not a structured binding: clang 14 cannot capture one
    if (std::none_of(rs.begin(), rs.end(), [&](const ScenarioResult& r) { return r.key == entry.first; }))
      out.push_back(&entry.second);
  return out;
}

std::string keras_only_claim(const std::string& key) {
  for (const auto& c : keras_only_claims())
    if (c.key == key) return c.claim;
  return "(" + key + ")";
}
}  // namespace

void print_scenarios(const std::vector<ScenarioResult>& rs, std::ostream& out, const KerasCheck* k) {
  out << "driftlab scenarios: the article's claims, run for real\n";
  if (k) out << "beside driftlab: real TensorFlow " << k->tensorflow << " / Keras " << k->keras << " (" << k->path << ")\n";
  out << "\n" << std::left << std::setw(4) << "#" << std::setw(20) << "source" << std::setw(18) << "driftlab";
  if (k) out << std::setw(18) << "keras";
  out << "claim\n";
  auto cut = [](std::string c) {
    if (c.size() > 90) c = c.substr(0, 87) + "...";  // the whole quote is printed below
    return c;
  };
  for (const auto& r : rs) {
    out << std::setw(4) << r.id << std::setw(20) << section(r.source) << std::setw(18) << upper(verdict_name(r.verdict));
    if (k) out << std::setw(18) << (r.keras ? upper(r.keras->verdict) : "(not run)");
    out << cut(r.source == "not in the article" ? r.claim : "\"" + r.claim + "\"") << "\n";
  }
  const auto only = k ? keras_only_rows(rs, *k) : std::vector<const KerasRow*>{};
  for (const KerasRow* kr : only)
    out << std::setw(4) << "-" << std::setw(20) << section(kr->source) << std::setw(18) << "(TF only)" << std::setw(18)
        << upper(kr->verdict) << cut(keras_only_claim(kr->key)) << "\n";
  out << "\n";
  for (const auto& r : rs) {
    out << r.id << ". [" << r.source << "] " << (r.source == "not in the article" ? r.claim : "\"" + r.claim + "\"") << "\n"
        << "   driftlab ran:      " << r.ran << "\n"
        << "   driftlab measured: " << r.measured << "\n"
        << "   driftlab verdict:  " << r.verdict_text << "\n";
    if (r.keras) {
      out << "   keras ran:         " << r.keras->ran << "\n   keras measured:   ";
      bool first = true;
      for (const auto& [name, v] : r.keras->numbers) {
        out << (first ? " " : ", ") << name << " " << sig(v);
        first = false;
      }
      out << "\n   keras verdict:     " << r.keras->verdict_text << "\n";
      if (!r.disagreement.empty())  // a claim driftlab did not test is no disagreement: the Keras column alone answers
        out << (r.verdict == Verdict::not_tested ? "   keras alone:       " : "   they disagree:     ") << r.disagreement << "\n";
    }
    out << "\n";
  }
  for (const KerasRow* kr : only) {
    out << "-. [" << kr->source << ", real TensorFlow only] " << keras_only_claim(kr->key) << "\n"
        << "   keras ran:         " << kr->ran << "\n   keras measured:   ";
    bool first = true;
    for (const auto& [name, v] : kr->numbers) {
      out << (first ? " " : ", ") << name << " " << sig(v);
      first = false;
    }
    out << "\n   keras verdict:     " << kr->verdict_text << "\n\n";
  }
}

void write_scenarios_json(const std::vector<ScenarioResult>& rs, std::ostream& out, const KerasCheck* k) {
  JsonWriter j(out);
  j.begin_object().field("command", "scenarios");
  if (k)
    j.key("keras_check")
        .begin_object()
        .field("path", k->path)
        .field("tensorflow", k->tensorflow)
        .field("keras", k->keras)
        .end_object();
  j.key("rows").begin_array();
  for (const auto& r : rs) {
    j.begin_object()
        .field("id", r.id)
        .field("key", r.key)
        .field("source", r.source)
        .field("claim", r.claim)
        .field("rule", r.rule)
        .field("ran", r.ran)
        .field("measured", r.measured)
        .field("verdict", verdict_name(r.verdict))
        .field("verdict_text", r.verdict_text)
        .key("numbers")
        .begin_object();
    for (const auto& [name, v] : r.numbers) j.field(name, v);
    j.end_object();
    if (r.keras) {
      j.key("keras").begin_object().field("ran", r.keras->ran).field("verdict", r.keras->verdict)
          .field("verdict_text", r.keras->verdict_text).field("agrees", r.disagreement.empty()).key("numbers").begin_object();
      for (const auto& [name, v] : r.keras->numbers) j.field(name, v);
      j.end_object().end_object();
      if (!r.disagreement.empty()) j.field("disagreement", r.disagreement);
    }
    j.end_object();
  }
  j.end_array();
  if (k) {  // rows only real TensorFlow measures
    j.key("keras_only").begin_array();
    for (const KerasRow* kr : keras_only_rows(rs, *k)) {
      j.begin_object().field("key", kr->key).field("source", kr->source).field("claim", keras_only_claim(kr->key))
          .field("ran", kr->ran).field("verdict", kr->verdict).field("verdict_text", kr->verdict_text).key("numbers")
          .begin_object();
      for (const auto& [name, v] : kr->numbers) j.field(name, v);
      j.end_object().end_object();
    }
    j.end_array();
  }
  j.end_object();
}

std::string scenarios_markdown(const std::vector<ScenarioResult>& rs, const KerasCheck* k) {
  auto row = [](const std::vector<std::string>& cells) {
    std::string s = "|";
    for (const auto& c : cells) {
      s += ' ';
      for (const char ch : c) {
        if (ch == '|') s += '\\';
        s += ch;
      }
      s += " |";
    }
    return s + "\n";
  };
  std::string md;
  if (k)
    md += "Beside driftlab: real TensorFlow " + k->tensorflow + " / Keras " + k->keras + " (scripts/keras_check.py).\n\n" +
          row({"#", "source", "claim", "driftlab", "keras", "why they differ"}) + row({"---", "---", "---", "---", "---", "---"});
  else
    md += row({"#", "source", "claim", "driftlab", "measured"}) + row({"---", "---", "---", "---", "---"});
  for (const auto& r : rs) {
    const std::string claim = r.source == "not in the article" ? r.claim : "\"" + r.claim + "\"";
    if (k)
      md += row({std::to_string(r.id), r.source, claim, r.verdict_text, r.keras ? r.keras->verdict_text : "(not run)",
                 r.disagreement});
    else
      md += row({std::to_string(r.id), r.source, claim, r.verdict_text, r.measured});
  }
  if (k)
    for (const KerasRow* kr : keras_only_rows(rs, *k))
      md += row({"-", kr->source, keras_only_claim(kr->key), "(real TensorFlow only)", kr->verdict_text, ""});
  return md;
}

}  // namespace driftlab
