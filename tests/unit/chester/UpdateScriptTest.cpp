// The JSON update script reader on the fuzz corpus (tests/fuzz/corpus-update: the
// catalogue's scripts and generated huge inputs — 20,000 steps, nesting 100,000 deep, a
// 1 MiB expression): each is read or refused with a ScriptError, nothing else.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chester/ScriptError.h"
#include "chester/UpdateScript.h"

TEST_CASE("the update script reader reads or refuses every corpus input") {
  size_t read = 0, refused = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(ESPELL_SOURCE_ROOT) + "/tests/fuzz/corpus-update")) {
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    CAPTURE(entry.path().filename().string());
    try {
      chester::JsonScript s = chester::readJsonScript({entry.path().filename().string(), text.str()});
      read++;
      if (entry.path().filename() == "gen-steps-20000") CHECK(s.steps.size() == 20000);
    } catch (const chester::ScriptError& e) {
      refused++;
      CHECK(std::string(e.what()).size() > 0);
    }
  }
  CHECK(read >= 10);    // the catalogue's scripts
  CHECK(refused >= 2);  // the truncated seed, the nesting
}

TEST_CASE("every operation of format 1 is in the schema") {
  std::ifstream in(std::string(ESPELL_SOURCE_ROOT) + "/updates/schema/update-v1.schema.json");
  std::stringstream schema;
  schema << in.rdbuf();
  for (const std::string& op : chester::stepOperations()) {
    CAPTURE(op);
    CHECK(schema.str().find("\"const\": \"" + op + "\"") != std::string::npos);
  }
}
