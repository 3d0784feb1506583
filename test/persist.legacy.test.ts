// Compiled with TypeScript's experimentalDecorators (see vitest.config.ts): the legacy flavour.
import { persist } from "../src/index.js";
import { type CounterClass, decoratorSuite } from "./decorator-suite.js";

@persist("legacy-counter")
class Counter {
  static instances = 0;
  static label() {
    return "counter";
  }
  static create() {
    return new this();
  }
  static createByName() {
    return new Counter();
  }
  #secret = 0;
  count: number;
  constructor(start = 0) {
    this.count = start;
    Counter.instances++;
  }
  get secret() {
    return this.#secret;
  }
  set half(value: number) {
    this.count = value * 2;
  }
  bump() {
    this.count++;
    return this;
  }
  bumpSecret() {
    this.#bump();
  }
  #bump() {
    this.#secret++;
  }
}

decoratorSuite("legacy", Counter as unknown as CounterClass);
