import { Hono } from "hono";
import { expect, test } from "vitest";
import { MemoryStore, persist, persistSession } from "../src/index.js";
import { Browser, SECRET } from "./helpers.js";

@persist("smoke")
class Counter {
  count = 0;
  history: Date[] = [];
  increment() {
    this.count++;
    this.history.push(new Date());
  }
}

test("smoke", async () => {
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store: new MemoryStore() }));
  app.get("/", (c) => c.text(String(new Counter().count)));
  app.post("/inc", (c) => {
    new Counter().increment();
    return c.text("ok");
  });
  const b = new Browser(app);
  expect(await b.text("/")).toBe("0");
  await b.request("/inc", { method: "POST" });
  await b.request("/inc", { method: "POST" });
  console.log(b.cookies);
  expect(await b.text("/")).toBe("2");
});
