import { Hono } from "hono";
import { beforeEach, describe, expect, test } from "vitest";
import { createApp } from "../demo/app.js";
import { MemoryStore, type PersistSessionOptions, persist, persistSession } from "../src/index.js";
import { Browser, SECRET } from "./helpers.js";

@persist("xsite-counter")
class Counter {
  count = 0;
  filter = "";
}

/** A real store that counts its reads: a refused request must not reach it. */
class CountingStore extends MemoryStore {
  reads = 0;
  override async get(id: string, ttl: number): Promise<string | undefined> {
    this.reads++;
    return super.get(id, ttl);
  }
}

let store: CountingStore;

function appWith(options: Partial<PersistSessionOptions> = {}): Hono {
  const app = new Hono();
  app.use(persistSession({ secret: SECRET, store, ...options }));
  app.get("/", (c) => c.text(`${new Counter().count} ${new Counter().filter}`));
  app.post("/increment", (c) => {
    new Counter().count++;
    return c.text(String(new Counter().count));
  });
  app.post("/filter", async (c) => {
    new Counter().filter = String((await c.req.parseBody()).filter ?? "");
    return c.text("ok");
  });
  return app;
}

const form = (filter: string, headers: Record<string, string>): RequestInit => ({
  method: "POST",
  headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
  body: new URLSearchParams({ filter }).toString(),
});

beforeEach(() => {
  store = new CountingStore({ sweepInterval: 0 });
});

describe("a state-changing request from another site", () => {
  test("Sec-Fetch-Site cross-site: 403, no Set-Cookie, the stored state untouched", async () => {
    const app = appWith();
    const victim = new Browser(app);
    await victim.request("/increment", {
      method: "POST",
      headers: { "Sec-Fetch-Site": "same-origin" },
    });
    await victim.request("/filter", form("mine", { "Sec-Fetch-Site": "same-origin" }));
    expect(await victim.text("/")).toBe("1 mine");
    const cookie = victim.cookie("xsite-counter");
    const reads = store.reads;

    // The browser does not send the Lax or Strict cookie with another site's form.
    const attack = await app.request(
      "/filter",
      form("attacker's", { "Sec-Fetch-Site": "cross-site" }),
    );
    expect(attack.status).toBe(403);
    expect(await attack.text()).toBe("Forbidden: cross-site request");
    expect(attack.headers.getSetCookie()).toEqual([]);
    expect(store.size).toBe(1);

    // With the cookie (SameSite=None), it is not loaded either.
    const withCookie = await victim.request("/increment", {
      method: "POST",
      headers: { "Sec-Fetch-Site": "cross-site" },
    });
    expect(withCookie.status).toBe(403);
    expect(withCookie.headers.getSetCookie()).toEqual([]);
    expect(store.reads).toBe(reads);

    expect(await victim.text("/")).toBe("1 mine");
    expect(victim.cookie("xsite-counter")).toBe(cookie);
  });

  test("Sec-Fetch-Site same-site (a sibling subdomain) is refused too", async () => {
    const response = await appWith().request("/increment", {
      method: "POST",
      headers: { "Sec-Fetch-Site": "same-site" },
    });
    expect(response.status).toBe(403);
    expect(response.headers.getSetCookie()).toEqual([]);
    expect(store.size).toBe(0);
  });

  test("every method but GET, HEAD and OPTIONS", async () => {
    const app = appWith();
    app.on(["PUT", "PATCH", "DELETE", "OPTIONS"], "/any", (c) => {
      new Counter().count = 7;
      return c.text("ok");
    });
    for (const method of ["PUT", "PATCH", "DELETE"]) {
      const response = await app.request("/any", {
        method,
        headers: { "Sec-Fetch-Site": "cross-site" },
      });
      expect(response.status, method).toBe(403);
    }
    const options = await app.request("/any", {
      method: "OPTIONS",
      headers: { "Sec-Fetch-Site": "cross-site" },
    });
    expect(options.status).toBe(200);
  });

  test("Origin of another host, without Sec-Fetch-Site: 403", async () => {
    const app = appWith();
    for (const origin of ["https://evil.example", "http://localhost:8080", "null", "not a url"]) {
      const response = await app.request("http://localhost/increment", {
        method: "POST",
        headers: { Origin: origin },
      });
      expect(response.status, origin).toBe(403);
      expect(response.headers.getSetCookie(), origin).toEqual([]);
    }
    expect(store.size).toBe(0);
  });

  test("Sec-Fetch-Site, when sent, decides alone", async () => {
    const response = await appWith().request("http://localhost/increment", {
      method: "POST",
      headers: { "Sec-Fetch-Site": "same-origin", Origin: "https://elsewhere.example" },
    });
    expect(response.status).toBe(200);
  });
});

describe("requests that are let through", () => {
  test("same-origin and user-initiated (none) POSTs", async () => {
    const app = appWith();
    for (const site of ["same-origin", "none"]) {
      const response = await app.request("/increment", {
        method: "POST",
        headers: { "Sec-Fetch-Site": site },
      });
      expect(response.status, site).toBe(200);
      expect(response.headers.getSetCookie(), site).toHaveLength(1);
    }
  });

  test("Origin https://host against a request seen as http://host (TLS ended at a proxy)", async () => {
    const response = await appWith().request("http://app.example/increment", {
      method: "POST",
      headers: { Origin: "https://app.example", Host: "app.example" },
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("1");
  });

  test("Origin with the request's host and port", async () => {
    const response = await appWith().request("http://127.0.0.1:3000/increment", {
      method: "POST",
      headers: { Origin: "http://127.0.0.1:3000" },
    });
    expect(response.status).toBe(200);
  });

  test("a POST with neither header (curl, a webhook, another server)", async () => {
    const response = await appWith().request("/increment", { method: "POST" });
    expect(response.status).toBe(200);
    expect(response.headers.getSetCookie()).toHaveLength(1);
  });

  test("a cross-site GET (a link from another site): navigation is the app's to keep read-only", async () => {
    const response = await appWith().request("/", { headers: { "Sec-Fetch-Site": "cross-site" } });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("0 ");
  });
});

describe("option `crossSite`", () => {
  test('"allow" lets every cross-site request through', async () => {
    const response = await appWith({ crossSite: "allow" }).request("/increment", {
      method: "POST",
      headers: { "Sec-Fetch-Site": "cross-site" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.getSetCookie()).toHaveLength(1);
  });

  test("a function allows the requests it returns true for (an OAuth form_post callback)", async () => {
    const seen: string[] = [];
    const app = appWith({
      crossSite: (c) => {
        seen.push(`${c.req.method} ${c.req.path}`);
        return c.req.path === "/filter";
      },
    });
    const callback = await app.request(
      "/filter",
      form("from the provider", { "Sec-Fetch-Site": "cross-site" }),
    );
    expect(callback.status).toBe(200);
    const other = await app.request("/increment", {
      method: "POST",
      headers: { "Sec-Fetch-Site": "cross-site" },
    });
    expect(other.status).toBe(403);
    // Asked about cross-site state-changing requests only.
    await app.request("/increment", {
      method: "POST",
      headers: { "Sec-Fetch-Site": "same-origin" },
    });
    await app.request("/", { headers: { "Sec-Fetch-Site": "cross-site" } });
    expect(seen).toEqual(["POST /filter", "POST /increment"]);
  });

  test("anything else is misuse", () => {
    expect(() =>
      persistSession({ secret: SECRET, store, crossSite: "deny" as unknown as "refuse" }),
    ).toThrow(
      new TypeError('[hono-persist] option `crossSite` must be "refuse", "allow" or a function'),
    );
  });
});

test("the demo refuses another site's form (Hono's csrf() first), and serves its own", async () => {
  const demo = createApp({ secret: SECRET, store });
  const attack = await demo.request(
    "/prefs/filter",
    form("attacker's", { "Sec-Fetch-Site": "cross-site", Origin: "https://evil.example" }),
  );
  expect(attack.status).toBe(403);
  expect(attack.headers.getSetCookie()).toEqual([]);
  expect(store.size).toBe(0);
  const own = await demo.request(
    "http://127.0.0.1:3000/prefs/filter",
    form("mine", { "Sec-Fetch-Site": "same-origin", Origin: "http://127.0.0.1:3000" }),
  );
  expect(own.status).toBe(303);
  expect(store.size).toBe(1);
});
