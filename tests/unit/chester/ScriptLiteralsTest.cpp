// ScriptLiterals: a Smalltalk update script's string literals, sorted into class names,
// method sources and statements, wherever they stand in its methods.
#include <doctest/doctest.h>

#include <string>

#include "chester/ScriptLiterals.h"
#include "vm/compiler/Parser.h"

namespace {

chester::ScriptLiterals literalsOfSource(const std::string& source) {
  vm::Parser parser(source, "Script.som");
  return chester::literalsOf(*parser.parseClass());
}

}  // namespace

TEST_CASE("a script's literals: class names, method sources and statements, each once") {
  chester::ScriptLiterals l = literalsOfSource(R"S(
Fix = (
    description = ( ^ 'Workers>>answer answers 42, and more' )
    apply: guest = (
        | workers |
        workers := guest classNamed: 'Workers'.
        (guest classNamed: 'Block2') compileAndInstall: 'memoized = ( ^ self memoizedIn: Dictionary new )'.
        workers compileAndInstall: 'answer = ( ^ 6 * 7 )'; compileAndInstall: 'answer = ( ^ 6 * 7 )'.
        #(1 ('nested = ( ^ 1 )') $a) size.
        { 'Workers'. [ :x | ^ 'x := 3' ] }.
        ^ 'not ( code' )
    verify: guest = ( ^ (guest evaluate: '^ Workers new answer') = 42 )
    ----
    helper = ( ^ 'Helper' )
)
)S");
  CHECK(l.classNames == std::vector<std::string>{"Block2", "Helper", "Workers"});
  CHECK(l.methods == std::vector<std::string>{"answer = ( ^ 6 * 7 )",
                                              "memoized = ( ^ self memoizedIn: Dictionary new )", "nested = ( ^ 1 )"});
  CHECK(l.statements == std::vector<std::string>{"^ Workers new answer", "x := 3"});
}

TEST_CASE("a script's literals at the end of a long receiver chain are found without deep recursion") {
  std::string chain = "'Deep'";
  for (int i = 0; i < 20000; i++) chain += " yourself";
  chester::ScriptLiterals l = literalsOfSource("Fix = ( apply: guest = ( ^ " + chain + " ) )");
  CHECK(l.classNames == std::vector<std::string>{"Deep"});
}
