// Workers: a guest program for update and rollback tests. Two forked workers sum an Array
// with do: and count right (#Good) and wrong (#Bad) sums, reaching an update point after
// each; the main process waits on short Delays until #Stop is set, then prints the count
// of wrong sums. It also holds 50 Points (#Points) and answers 41 to Workers new answer.
#pragma once

namespace hypervisor::test {

inline const char* kWorkers = R"(
Workers = (
    run = (
        system global: #Good put: 0.
        system global: #Bad put: 0.
        system global: #Points put: ((1 to: 50) collect: [ :i | Point x: i y: i * 2 ]).
        1 to: 2 do: [ :i | [ self loop ] fork ].
        [ (system global: #Stop) isNil ] whileTrue: [ (Delay forMilliseconds: 1) wait ].
        'bad: ' print. (system global: #Bad) println )
    loop = (
        | items |
        items := Array new: 100.
        1 to: 100 do: [ :i | items at: i put: i ].
        [ (system global: #Stop) isNil ] whileTrue: [
            | sum |
            sum := 0.
            items do: [ :each | sum := sum + each ].
            sum = 5050
                ifTrue: [ system global: #Good put: (system global: #Good) + 1 ]
                ifFalse: [ system global: #Bad put: (system global: #Bad) + 1 ].
            Chester updatePoint ] )
    answer = ( ^ 41 )
)
)";

}  // namespace hypervisor::test
