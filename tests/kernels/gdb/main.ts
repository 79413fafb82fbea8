// A kernel for the gdb test (tests/gdb.test.ts): a method and a function the
// debugger breaks in by their AssemblyScript names.
import { println } from "uniwasm";

class Greeter {
  constructor(readonly who: string) {}

  greet(times: i32): i32 {
    let n = 0;
    for (let i = 0; i < times; i++) {
      println("hello, " + this.who);
      n += this.who.length;
    }
    return n;
  }
}

function twice(g: Greeter): i32 {
  return g.greet(2);
}

export function main(): i32 {
  return twice(new Greeter("gdb")) == 6 ? 0 : 1;
}
