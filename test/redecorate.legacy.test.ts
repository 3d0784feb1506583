// Compiled with TypeScript's experimentalDecorators (see vitest.config.ts): the legacy flavour.
// A dev server (Vite's, `bun --hot`) runs a module again after an edit: `@persist` then
// decorates a new class of the same name with the same key (see test/dev-server.test.ts for
// the real servers).
import { persist } from "../src/index.js";
import { redecorateSuite } from "./redecorate-suite.js";

redecorateSuite("legacy", {
  first(key) {
    class Item {
      name = "";
    }
    @persist(key, { classes: [Item] })
    class AppState {
      count = 0;
      items: Item[] = [];
      add(name: string) {
        const item = new Item();
        item.name = name;
        this.items.push(item);
        this.count++;
      }
    }
    return { AppState, Item };
  },
  edited(key) {
    class Item {
      name = "";
      shout() {
        return this.name.toUpperCase();
      }
    }
    @persist(key, { classes: [Item] })
    class AppState {
      count = 0;
      items: Item[] = [];
      theme = "dark";
      add(name: string) {
        const item = new Item();
        item.name = name;
        this.items.push(item);
        this.count++;
      }
      summary() {
        return `${this.count} items, the first ${this.items[0]?.shout()}`;
      }
    }
    return { AppState, Item };
  },
  other(key) {
    @persist(key)
    class Other {}
    return Other;
  },
});
