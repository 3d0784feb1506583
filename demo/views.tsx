import type { SessionInfo } from "../src/index.js";
import type { StateFacts } from "./debug.js";
import { FILTER_MAX_LENGTH, type Prefs, THEMES } from "./prefs.js";
import type { Activity, AppState } from "./state.js";

const ACTIVITY_SHOWN = 10;

export interface PageProps {
  counter: AppState;
  prefs: Prefs;
  /** Who is signed in on this browser, if anyone. */
  user: string | undefined;
  /** The user's sessions; `undefined` when nobody is signed in or the store keeps no index. */
  sessions: SessionInfo[] | undefined;
  facts: StateFacts[];
  /** Which store holds the state, in words. */
  store: string;
  /** One clock for the whole page, so relative times agree with each other. */
  now: Date;
}

export function Page({ counter, prefs, user, sessions, facts, store, now }: PageProps) {
  return (
    <html lang="en" data-theme={prefs.theme}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>hono-persist dashboard</title>
        <link rel="stylesheet" href="/style.css" />
        {/* No favicon: spares the browser a request that would only reach a 404. */}
        <link rel="icon" href="data:," />
      </head>
      <body>
        <header class="masthead">
          <h1>
            hono-persist <span class="muted">dashboard</span>
          </h1>
          <p class="muted">
            Each panel is a persisted class, one state per browser, or per user once signed in.
            Reload, close the browser, restart the server: it stays.
          </p>
        </header>
        <main class="grid">
          <AccountCard user={user} sessions={sessions} now={now} />
          <CounterCard counter={counter} />
          <ActivityCard activity={counter.activity} now={now} />
          <PrefsCard prefs={prefs} />
          <DebugCard facts={facts} store={store} now={now} />
        </main>
      </body>
    </html>
  );
}

function AccountCard({
  user,
  sessions,
  now,
}: {
  user: string | undefined;
  sessions: SessionInfo[] | undefined;
  now: Date;
}) {
  return (
    <section class="card wide" id="account" aria-labelledby="account-title">
      <h2 id="account-title">Account</h2>
      {user === undefined ? (
        <form method="post" action="/signin" id="signin" class="row">
          <span class="muted">Not signed in: the preferences are this browser's.</span>
          <button class="primary" type="submit">
            Sign in as demo
          </button>
        </form>
      ) : (
        <>
          <form method="post" action="/signout" class="row">
            <span id="signed-in">
              Signed in as <strong>{user}</strong>: the preferences follow you to every browser.
            </span>
            <button type="submit">Sign out</button>
          </form>
          {sessions && <SessionList sessions={sessions} now={now} />}
        </>
      )}
    </section>
  );
}

function SessionList({ sessions, now }: { sessions: SessionInfo[]; now: Date }) {
  return (
    <>
      <h3>Signed in on</h3>
      <ul class="sessions" id="sessions">
        {sessions.map((session) => (
          <li data-current={session.current ? "true" : undefined}>
            <span class="device">{session.device ?? "an unnamed device"}</span>
            <span class="muted">
              signed in <Time date={session.created} now={now} />, last seen{" "}
              <Time date={session.seen} now={now} />
            </span>
            {session.current ? (
              <span class="badge restored">this browser</span>
            ) : (
              <form method="post" action="/sessions/end">
                <input type="hidden" name="browser" value={session.browser} />
                <button
                  type="submit"
                  class="small"
                  aria-label={`End the session on ${session.device ?? "an unnamed device"}`}
                >
                  End
                </button>
              </form>
            )}
          </li>
        ))}
      </ul>
      {sessions.length > 1 && (
        <form method="post" action="/sessions/end-others" class="separated">
          <button class="danger" type="submit">
            Sign out other sessions
          </button>
        </form>
      )}
    </>
  );
}

function CounterCard({ counter }: { counter: AppState }) {
  return (
    <section class="card" id="counter" aria-labelledby="counter-title">
      <h2 id="counter-title">Counter</h2>
      <div class="count" id="count">
        {counter.count}
      </div>
      <div class="row">
        <form method="post" action="/decrement">
          <button type="submit">
            <span aria-hidden="true">−</span> Decrement
          </button>
        </form>
        <form method="post" action="/increment">
          <button class="primary" type="submit">
            <span aria-hidden="true">+</span> Increment
          </button>
        </form>
      </div>
      <form method="post" action="/clear" class="separated">
        <button class="danger" type="submit">
          Clear cookie and state file
        </button>
      </form>
      <p class="hint">
        Deletes this browser's <code>app-state</code> file and expires its cookie. The next action
        starts over under a new UUID.
      </p>
    </section>
  );
}

function ActivityCard({ activity, now }: { activity: Activity[]; now: Date }) {
  const recent = activity.slice(-ACTIVITY_SHOWN).reverse();
  return (
    <section class="card" id="activity" aria-labelledby="activity-title">
      <h2 id="activity-title">Activity</h2>
      <Sparkline values={activity.map((entry) => entry.count)} />
      {recent.length === 0 ? (
        <p class="empty">No actions yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Time (UTC)</th>
              <th scope="col">Action</th>
              <th scope="col" class="num">
                Count
              </th>
            </tr>
          </thead>
          <tbody>
            {recent.map((entry) => (
              <tr>
                <td>
                  <time datetime={entry.at.toISOString()}>{clock(entry.at, now)}</time>
                </td>
                <td>{entry.action}</td>
                <td class="num">{entry.count}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The count after each action, scaled to fit; no axes, the caption gives the range. */
function Sparkline({ values }: { values: number[] }) {
  if (values.length < 2) {
    return <p class="sparkline empty">The count's sparkline appears after two actions.</p>;
  }
  const width = 300;
  const height = 60;
  const pad = 5;
  const low = Math.min(...values);
  const high = Math.max(...values);
  const x = (index: number) => (index / (values.length - 1)) * width;
  const y = (value: number) =>
    high === low ? height / 2 : pad + ((high - value) / (high - low)) * (height - 2 * pad);
  const points = values
    .map((value, index) => `${x(index).toFixed(1)},${y(value).toFixed(1)}`)
    .join(" ");
  const summary = `count over the last ${values.length} actions: low ${low}, high ${high}, now ${values.at(-1)}`;
  return (
    <figure class="sparkline">
      <svg
        viewBox={`0 0 ${width} ${height}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={summary}
      >
        <polygon class="area" points={`0,${height} ${points} ${width},${height}`} />
        <polyline class="line" points={points} vector-effect="non-scaling-stroke" />
      </svg>
      <figcaption class="muted">
        last {values.length} actions · low {low} · high {high}
      </figcaption>
    </figure>
  );
}

function PrefsCard({ prefs }: { prefs: Prefs }) {
  const pinned = [...prefs.pinned];
  const visible = prefs.visible;
  return (
    <section class="card" id="preferences" aria-labelledby="preferences-title">
      <h2 id="preferences-title">Preferences</h2>
      <form method="post" action="/prefs/theme" class="row">
        <span class="label" id="theme-label">
          Theme
        </span>
        <fieldset class="segmented" aria-labelledby="theme-label">
          {THEMES.map((theme) => (
            <button type="submit" name="theme" value={theme} aria-pressed={prefs.theme === theme}>
              {theme === "light" ? "Light" : "Dark"}
            </button>
          ))}
        </fieldset>
      </form>
      <form method="post" action="/prefs/filter" class="row">
        <label class="label" for="filter">
          Filter
        </label>
        <input
          id="filter"
          name="filter"
          type="search"
          value={prefs.filter}
          maxlength={FILTER_MAX_LENGTH}
          placeholder="e.g. pay"
        />
        <button type="submit">Apply</button>
      </form>

      <h3>Pinned</h3>
      {pinned.length === 0 ? (
        <p class="empty">Nothing pinned yet.</p>
      ) : (
        <ul class="chips" id="pinned">
          {pinned.map((item) => (
            <li>
              <span>{item}</span>
              <PinForm item={item} pinned={true} compact={true} />
            </li>
          ))}
        </ul>
      )}

      <h3>Services {prefs.filter && <span class="muted">matching “{prefs.filter}”</span>}</h3>
      {visible.length === 0 ? (
        <p class="empty">No service matches.</p>
      ) : (
        <ul class="items" id="items">
          {visible.map((item) => (
            <li>
              <span>{item}</span>
              <PinForm item={item} pinned={prefs.pinned.has(item)} compact={false} />
            </li>
          ))}
        </ul>
      )}
      <form method="post" action="/prefs/clear" class="separated">
        <button type="submit">Reset preferences</button>
      </form>
    </section>
  );
}

function PinForm({ item, pinned, compact }: { item: string; pinned: boolean; compact: boolean }) {
  const verb = pinned ? "Unpin" : "Pin";
  return (
    <form method="post" action={pinned ? "/prefs/unpin" : "/prefs/pin"}>
      <input type="hidden" name="item" value={item} />
      <button
        type="submit"
        class={compact ? "chip-button" : "small"}
        aria-label={`${verb} ${item}`}
      >
        {compact ? "×" : verb}
      </button>
    </form>
  );
}

function DebugCard({ facts, store, now }: { facts: StateFacts[]; store: string; now: Date }) {
  return (
    <section class="card wide" id="debug" aria-labelledby="debug-title">
      <h2 id="debug-title">Debug</h2>
      <p class="muted">
        One stored state per key, and a cookie naming it; a signed-in user's state has none. Store:{" "}
        <code>{store}</code>
      </p>
      <div class="keys">
        {facts.map((fact) => (
          <KeyFacts fact={fact} now={now} />
        ))}
      </div>
    </section>
  );
}

function KeyFacts({ fact, now }: { fact: StateFacts; now: Date }) {
  const { key } = fact;
  const cookie = cookieStatus(fact);
  return (
    <article class="key" id={`debug-${key}`}>
      <h3>
        <code>@persist("{key}")</code> <span class="muted">class {fact.className}</span>
      </h3>
      <dl>
        <dt>Whose</dt>
        <dd id={`scope-${key}`}>
          {fact.scope === "user" ? "the signed-in user's, on every browser" : "this browser's"}
        </dd>
        <dt>Cookie name</dt>
        <dd>
          {fact.cookieName === undefined ? (
            "none: the id is derived from the user"
          ) : (
            <code>{fact.cookieName}</code>
          )}
        </dd>
        <dt>{fact.fileStore ? "UUID (file name)" : "UUID"}</dt>
        <dd id={`uuid-${key}`} class={fact.stored ? "mono" : undefined}>
          {fact.stored ? fact.id : "none yet: a state is stored at its first change"}
        </dd>
        <dt>State file</dt>
        <dd id={`file-${key}`}>
          {fact.file
            ? `${fact.file.size.toLocaleString("en")} bytes`
            : fact.fileStore
              ? "none"
              : "none: this store keeps no files"}
        </dd>
        <dt>Last saved</dt>
        <dd id={`saved-${key}`}>
          {fact.savedAt ? <Time date={fact.savedAt} now={now} /> : "never"}
        </dd>
        {fact.file && (
          <>
            <dt>Expires</dt>
            <dd>
              <Time date={fact.file.expires} now={now} />
            </dd>
          </>
        )}
        <dt>State</dt>
        <dd id={`status-${key}`}>
          {fact.stored
            ? fact.restored
              ? "restored from the store"
              : "stored in this request"
            : "fresh: nothing stored"}
        </dd>
        <dt>Cookie</dt>
        <dd id={`cookie-${key}`}>
          <span class={`badge ${cookie.badge}`}>{cookie.badge}</span> {cookie.text}
        </dd>
      </dl>
    </article>
  );
}

function cookieStatus(fact: StateFacts): { badge: string; text: string } {
  if (fact.scope === "user") return { badge: "none", text: "a user's state has no cookie" };
  const last = fact.lastResponse;
  if (last?.cookie === "issued")
    return { badge: "issued", text: `by the response to ${last.action}` };
  if (last?.cookie === "expired")
    return { badge: "expired", text: `by the response to ${last.action}` };
  if (fact.sent && fact.stored) return { badge: "restored", text: "sent by the browser, verified" };
  if (fact.sent) {
    return {
      badge: "rejected",
      text: "bad signature or nothing stored under its id: expired in this response",
    };
  }
  if (fact.stored) return { badge: "issued", text: "in this response" };
  return { badge: "none", text: "until the state first changes" };
}

/** A relative time, with the exact UTC time on hover. */
function Time({ date, now }: { date: Date; now: Date }) {
  const exact = `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
  return (
    <time datetime={date.toISOString()} title={exact}>
      {relative(date, now)}
    </time>
  );
}

/**
 * The time of day for today's entries, with the date for older ones. In UTC: the server does not
 * know the browser's time zone.
 */
function clock(date: Date, now: Date): string {
  const iso = date.toISOString();
  return iso.slice(0, 10) === now.toISOString().slice(0, 10)
    ? iso.slice(11, 19)
    : `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}

function relative(date: Date, now: Date): string {
  const seconds = Math.round((date.getTime() - now.getTime()) / 1000);
  const size = Math.abs(seconds);
  if (size < 5) return "just now";
  const [amount, unit] =
    size < 60
      ? [size, "s"]
      : size < 3600
        ? [Math.round(size / 60), "min"]
        : size < 86_400
          ? [Math.round(size / 3600), "h"]
          : [Math.round(size / 86_400), "day"];
  const label = unit === "day" && amount !== 1 ? `${amount} days` : `${amount} ${unit}`;
  return seconds < 0 ? `${label} ago` : `in ${label}`;
}
