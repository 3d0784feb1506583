// Built on `pg` (node-postgres), the client connect-pg-simple and most Node ORMs use. Every
// call is one statement on a pooled connection, returned to the pool as soon as it answers:
// nothing here holds a connection across a request, so it works behind PgBouncer in
// transaction mode (1.21 or later for the named statements of option `prepare`) and a pool of
// any size serves any number of locked requests.
import { createHash, randomBytes } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
// The default import: `pg` before 8.15 is CommonJS alone, whose named exports Node cannot see.
import pg, { type Pool, type QueryConfig, type QueryResult } from "pg";
import { isSessionId } from "../cookie.js";
import { misuse, PersistError } from "../errors.js";
import type { Store } from "../types.js";

/** Options of `PostgresStore`: give `connectionString` (the store makes its own pool) or `pool`. */
export interface PostgresStoreOptions {
  /**
   * `postgres://user:password@host:port/database`: the store makes a `pg.Pool` and ends it on
   * `close()`.
   */
  connectionString?: string;
  /**
   * A `pg.Pool` you made; `close()` leaves it open. Its `connectionTimeoutMillis` (and
   * `statement_timeout`) are yours to set.
   */
  pool?: Pool;
  /**
   * The table of states, optionally `schema.table`: lower-case letters, digits and `_`, at most
   * 52 characters. Locks live in `<table>_lock`, quarantined states in `<table>_quarantine`,
   * the sessions index in `<table>_session`.
   * @default "hono_persist"
   */
  table?: string;
  /**
   * Create the three tables if they are missing, before the first query, and `<table>_session`
   * before the first call of the sessions index (`CREATE TABLE IF NOT EXISTS`). Set `false` when
   * you create them yourself (docs/stores.md has the SQL).
   * @default true
   */
  createTable?: boolean;
  /**
   * Seconds a connection attempt may take before the call fails with `STORE_FAILED` (only for
   * the pool made from `connectionString`).
   * @default 2
   */
  connectTimeout?: number;
  /**
   * Seconds a query may go unanswered (PostgreSQL frozen, unreachable, or the row locked by a
   * stuck session) before it fails with `PersistError` `STORE_FAILED`; its connection is then
   * discarded.
   * @default 2
   */
  queryTimeout?: number;
  /**
   * Name the statements each request sends, so that every connection parses and plans them once
   * (a get and a set per request: 35% more of them a second here). Set `false` behind a
   * PgBouncer in transaction mode older than 1.21, or without `max_prepared_statements`.
   * @default true
   */
  prepare?: boolean;
  /**
   * Seconds between background sweeps of expired states, crashed holders' locks and week-old
   * quarantined states; `0` turns them off (call `sweep()`).
   * @default 600
   */
  sweepInterval?: number;
  /**
   * Told when PostgreSQL is lost (once per outage) and back, when a held lock expired, and
   * when a background sweep failed.
   * @default console
   */
  logger?: Pick<Console, "warn" | "error">;
}

// A lock outlives a crashed holder by this long; a live holder refreshes it every third of it.
const LOCK_LEASE_S = 10;
// Quarantined states are kept this long for inspection, then swept.
const QUARANTINE_DAYS = 7;
// Rows one sweep statement deletes at most: a backlog of expired states is removed in several
// short statements instead of one that holds locks on all of them.
const SWEEP_BATCH = 1000;
// Server errors that mean the connection, not the query, failed: connection exceptions (08…),
// and the server shutting down, crashed or starting (57P…).
const CONNECTION_LOST = /^(08|57P)/;
// A query unanswered by the client's deadline is given up and its connection discarded. That
// deadline comes a little after the server's own (`statement_timeout`, on the pool made here),
// so that a statement merely waiting (for a row another session locked) is cancelled cleanly
// by the server, and only a server that does not answer at all meets the client's.
const TIMEOUT_GRACE_MS = 50;
// The columns each table needs; other columns are left alone.
const SHAPE: Record<"state" | "lock" | "quarantine" | "session", string[]> = {
  state: ["id uuid not null", "data text not null", "expires timestamp with time zone not null"],
  lock: ["id uuid not null", "token text not null", "expires timestamp with time zone not null"],
  quarantine: [
    "id uuid not null",
    "data text not null",
    "reason text not null",
    "quarantined timestamp with time zone not null",
  ],
  session: [
    "user_id uuid not null",
    "id uuid not null",
    "entry text not null",
    "expires timestamp with time zone not null",
  ],
};
// The columns of the tables named in $1, in that order (null for a table that does not exist).
const DESCRIBE = `SELECT t.name, current_setting('server_encoding') AS encoding,
         (SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END)
            FROM pg_attribute a WHERE a.attrelid = to_regclass(t.name) AND a.attnum > 0 AND NOT a.attisdropped) AS columns
       FROM unnest($1::text[]) WITH ORDINALITY AS t(name, n) ORDER BY t.n`;

/**
 * State in PostgreSQL, one row per session in one table, shared by every server that uses the
 * same database: a write through one is read by the next request through another.
 *
 * Expiry is a `timestamptz` column compared with the database's clock (`now()`), never a host's,
 * so servers whose clocks differ agree on it. A read is one `UPDATE … RETURNING` that slides the
 * deadline of an unexpired row; an expired row reads as absent at once and is deleted by
 * `sweep()`. A write is one upsert, atomic. `lock()` is a leased row with a random token.
 *
 * A call waits at most `connectTimeout` for a connection and `queryTimeout` for its answer,
 * then fails with `STORE_FAILED`; connections broken by an outage are discarded, and the next
 * request after PostgreSQL is back works without a restart.
 */
export class PostgresStore implements Store {
  /** The table of states, as given. */
  readonly table: string;
  readonly #pool: Pool;
  readonly #owned: boolean;
  readonly #sql: { state: string; lock: string; quarantine: string; session: string };
  readonly #createTable: boolean;
  readonly #named: boolean;
  readonly #queryTimeout: number;
  readonly #connectTimeout: number | undefined;
  readonly #logger: Pick<Console, "warn" | "error">;
  readonly #locks = new Set<NodeJS.Timeout>();
  /** Queries sent and not yet answered: `close()` lets them finish before ending the pool. */
  readonly #running = new Set<Promise<unknown>>();
  readonly #sweeper: NodeJS.Timeout | undefined;
  /** The tables' check: not yet (or failed, to be tried again), under way, or passed. */
  #tables: "unchecked" | Promise<void> | "checked" = "unchecked";
  /** The same for `<table>_session`, checked at the first call of the sessions index only. */
  #sessionTable: "unchecked" | Promise<void> | "checked" = "unchecked";
  #outage = false;
  #closing: Promise<void> | undefined;
  // An idle pooled connection that breaks (PostgreSQL restarted) is reported here; without a
  // listener, the pool's 'error' event would crash the process.
  readonly #onPoolError = (error: Error) => this.#lost(this.#why(error));

  constructor(options: PostgresStoreOptions) {
    if (typeof options !== "object" || options === null) {
      throw misuse("PostgresStore needs options with a `connectionString` or a `pool`");
    }
    const {
      connectionString,
      pool,
      table = "hono_persist",
      createTable = true,
      prepare = true,
      connectTimeout,
      queryTimeout = 2,
      sweepInterval = 600,
      logger = console,
    } = options;
    if (connectionString !== undefined && pool !== undefined) {
      throw misuse("options `connectionString` and `pool` exclude each other: give one");
    }
    if (
      typeof table !== "string" ||
      !/^([a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,51}$/.test(table)
    ) {
      throw misuse(
        "option `table` must be a lower-case SQL name (letters, digits, `_`; at most 52 characters), optionally `schema.table`",
      );
    }
    if (typeof createTable !== "boolean") throw misuse("option `createTable` must be a boolean");
    if (typeof prepare !== "boolean") throw misuse("option `prepare` must be a boolean");
    seconds("queryTimeout", queryTimeout);
    if (typeof sweepInterval !== "number" || !(sweepInterval >= 0)) {
      throw misuse("option `sweepInterval` must be a number of seconds, or 0");
    }
    if (typeof logger?.warn !== "function" || typeof logger.error !== "function") {
      throw misuse("option `logger` must have `warn` and `error` methods");
    }
    this.table = table;
    // Quoted, so that a name PostgreSQL reserves (`user`, `order`) is a name too.
    const quoted = (suffix: string) =>
      table
        .split(".")
        .map((part, i, parts) => `"${part}${i === parts.length - 1 ? suffix : ""}"`)
        .join(".");
    this.#sql = {
      state: quoted(""),
      lock: quoted("_lock"),
      quarantine: quoted("_quarantine"),
      session: quoted("_session"),
    };
    this.#createTable = createTable;
    this.#named = prepare;
    this.#queryTimeout = queryTimeout * 1000;
    this.#logger = logger;
    if (pool !== undefined) {
      if (typeof pool?.query !== "function" || typeof pool.on !== "function") {
        throw misuse("option `pool` must be a `pg.Pool`");
      }
      if (connectTimeout !== undefined) {
        throw misuse(
          "option `connectTimeout` applies to the pool made from `connectionString`; set `connectionTimeoutMillis` on your own pool",
        );
      }
      this.#pool = pool;
      this.#owned = false;
      const given = pool.options?.connectionTimeoutMillis;
      this.#connectTimeout = typeof given === "number" && given > 0 ? given : undefined;
    } else {
      if (typeof connectionString !== "string" || !/^postgres(ql)?:\/\//.test(connectionString)) {
        throw misuse(
          "option `connectionString` must be a postgres:// or postgresql:// URL (or give a `pool`)",
        );
      }
      seconds("connectTimeout", connectTimeout ?? 2);
      this.#connectTimeout = (connectTimeout ?? 2) * 1000;
      this.#pool = new pg.Pool({
        connectionString,
        connectionTimeoutMillis: this.#connectTimeout,
        // The server gives up too, so that a statement stuck on a row lock does not run on
        // after its caller was told it failed.
        statement_timeout: this.#queryTimeout,
        // Finds a peer that vanished (a host lost without closing its connections).
        keepAlive: true,
      });
      this.#owned = true;
    }
    this.#pool.on("error", this.#onPoolError);
    if (sweepInterval > 0) {
      this.#sweeper = setInterval(() => {
        this.sweep().catch((error: unknown) => {
          // An outage is logged once, by itself.
          if (!this.#outage)
            this.#logger.error(`[hono-persist] PostgresStore sweep: ${this.#why(error)}`);
        });
      }, sweepInterval * 1000).unref();
    }
  }

  async get(id: string, ttl: number): Promise<string | undefined> {
    // Slides the deadline without rewriting the data: PostgreSQL moves a value that leaves a
    // row over ~2 KB, even compressed, out of it (TOAST), and an UPDATE that leaves the value
    // unchanged copies only its 18-byte pointer into the new row version; what stays in the row
    // is under ~2 KB. So one table serves, with no second table of deadlines to join and keep
    // in step, and no storage settings a team that migrates itself could miss.
    const { rows } = await this.#query(
      "read",
      id,
      `UPDATE ${this.#sql.state} SET expires = now() + make_interval(secs => $2) WHERE id = $1 AND expires > now() RETURNING data`,
      [id, ttl],
    );
    return rows[0]?.data as string | undefined;
  }

  async set(id: string, data: string, ttl: number): Promise<void> {
    // PostgreSQL's text holds no NUL, and UTF-8 no lone surrogate (pg would write U+FFFD in
    // its place: another string than the one given). JSON, all the middleware writes, escapes
    // both; a caller of the store itself is told instead of getting back other text.
    // (`isWellFormed`: ES2024, in Node 20 and later; the project's lib is ES2023.)
    if (data.includes("\0") || !(data as WellFormed).isWellFormed()) {
      throw misuse(
        "PostgresStore: data must be text PostgreSQL can hold: no NUL and no lone surrogate (JSON escapes both)",
      );
    }
    await this.#query(
      "write",
      id,
      `INSERT INTO ${this.#sql.state} (id, data, expires) VALUES ($1, $2, now() + make_interval(secs => $3))
       ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires = excluded.expires`,
      [id, data, ttl],
    );
  }

  async delete(id: string): Promise<void> {
    await this.#query("delete", id, `DELETE FROM ${this.#sql.state} WHERE id = $1`, [id]);
  }

  /** Moves the row to `<table>_quarantine` with the reason; swept after a week. */
  async quarantine(id: string, reason: string): Promise<void> {
    await this.#query(
      "quarantine",
      id,
      `WITH moved AS (DELETE FROM ${this.#sql.state} WHERE id = $1 RETURNING id, data)
       INSERT INTO ${this.#sql.quarantine} (id, data, reason, quarantined) SELECT id, data, $2, now() FROM moved`,
      [id, String(reason)],
    );
  }

  /** Upserts the record of `id` under `user` in `<table>_session`, expiring `ttl` s from now. */
  async index(user: string, id: string, entry: string, ttl: number): Promise<void> {
    uuid(id);
    // As set()'s data: the middleware's entry is JSON, which escapes both.
    if (entry.includes("\0") || !(entry as WellFormed).isWellFormed()) {
      throw misuse(
        "PostgresStore: entry must be text PostgreSQL can hold: no NUL and no lone surrogate (JSON escapes both)",
      );
    }
    await this.#indexQuery(
      "index",
      user,
      `INSERT INTO ${this.#sql.session} (user_id, id, entry, expires) VALUES ($1, $2, $3, now() + make_interval(secs => $4))
       ON CONFLICT (user_id, id) DO UPDATE SET entry = excluded.entry, expires = excluded.expires`,
      [user, id, entry, ttl],
    );
  }

  async indexed(user: string): Promise<[id: string, entry: string][]> {
    const { rows } = await this.#indexQuery(
      "list the index of",
      user,
      `SELECT id, entry FROM ${this.#sql.session} WHERE user_id = $1 AND expires > now()`,
      [user],
    );
    return rows.map((row) => [row.id as string, row.entry as string]);
  }

  async unindex(user: string, ids?: readonly string[]): Promise<void> {
    if (ids === undefined) {
      await this.#indexQuery(
        "unindex",
        user,
        `DELETE FROM ${this.#sql.session} WHERE user_id = $1`,
        [user],
      );
      return;
    }
    if (!Array.isArray(ids)) throw misuse("PostgresStore: `ids` must be an array of UUIDv4s");
    for (const id of ids) uuid(id);
    if (ids.length === 0) {
      uuid(user);
      return;
    }
    await this.#indexQuery(
      "unindex",
      user,
      `DELETE FROM ${this.#sql.session} WHERE user_id = $1 AND id = ANY($2::uuid[])`,
      [user, ids],
    );
  }

  /**
   * An exclusive lock on `id` across every server sharing this database, held from load to
   * save when `persistSession({ lock: true })`: a row in `<table>_lock` with a random token
   * and a 10 s lease that its holder refreshes. A holder that died stops refreshing it, and the
   * next request takes it over within 10 s.
   */
  async lock(id: string, timeout: number): Promise<() => Promise<void>> {
    // A leased row, not an advisory lock: a session-level advisory lock belongs to one
    // connection, which would stay checked out of the pool for the whole request (a pool of 10
    // then stalls at 10 locked requests, each waiting for a connection to load its state),
    // and behind PgBouncer in transaction mode it lands on whichever server connection the
    // statement got. A row costs a statement to take and one to release, and waiters poll;
    // a dead holder's lease runs out instead of being freed when its connection drops.
    const token = randomBytes(16).toString("hex");
    const deadline = Date.now() + timeout * 1000;
    for (let attempt = 0; ; attempt++) {
      const { rowCount } = await this.#query(
        "lock",
        id,
        `INSERT INTO ${this.#sql.lock} AS held (id, token, expires) VALUES ($1, $2, now() + make_interval(secs => $3))
         ON CONFLICT (id) DO UPDATE SET token = excluded.token, expires = excluded.expires WHERE held.expires <= now()`,
        [id, token, LOCK_LEASE_S],
      );
      if (rowCount === 1) break;
      // Negated so that a NaN timeout fails at once instead of polling forever.
      if (!(Date.now() < deadline)) {
        throw new PersistError(
          "LOCK_TIMEOUT",
          `${this.table} ${id} is still locked by another request after ${timeout} s`,
        );
      }
      // Waiters poll: a holder in another process has no way to wake them.
      await delay(Math.min(1 + attempt, 20) * (0.5 + Math.random()));
    }
    const refresh = setInterval(
      () => {
        this.#query(
          "refresh the lock of",
          id,
          `UPDATE ${this.#sql.lock} SET expires = now() + make_interval(secs => $3) WHERE id = $1 AND token = $2`,
          [id, token, LOCK_LEASE_S],
        ).then(
          ({ rowCount }) => {
            if (rowCount !== 0 || !this.#locks.has(refresh)) return;
            this.#stopRefresh(refresh);
            this.#logger.error(
              `[hono-persist] the lock ${this.table} ${id} expired while held (PostgreSQL unreachable or the event loop blocked for ${LOCK_LEASE_S} s): another request may have changed this state meanwhile`,
            );
          },
          // PostgreSQL unreachable: already logged; the next refresh tries again.
          () => undefined,
        );
      },
      (LOCK_LEASE_S * 1000) / 3,
    ).unref();
    this.#locks.add(refresh);
    return async () => {
      this.#stopRefresh(refresh);
      // Compare-and-delete: a lease that ran out and was taken by another request stays theirs.
      await this.#query(
        "unlock",
        id,
        `DELETE FROM ${this.#sql.lock} WHERE id = $1 AND token = $2`,
        [id, token],
      );
    };
  }

  /**
   * Deletes expired states and index records (and returns how many), the locks of holders that
   * died, and quarantined states older than a week, in batches of 1,000 rows. Several servers
   * may sweep at once: each skips the rows another is deleting.
   */
  async sweep(): Promise<number> {
    let removed = await this.#sweep(this.#sql.state, "expires <= now()");
    await this.#sweep(this.#sql.lock, "expires <= now()");
    await this.#sweep(
      this.#sql.quarantine,
      `quarantined <= now() - interval '${QUARANTINE_DAYS} days'`,
    );
    // Only where it exists: sweeping never creates the table, and an app without the index
    // (or with `createTable: false` and no such table) sweeps as before.
    if (this.#sessionTable !== "checked") {
      const { rows } = await this.#send(
        "sweep",
        this.table,
        "SELECT to_regclass($1) IS NOT NULL AS found",
        [this.#sql.session],
      );
      if (rows[0]?.found !== true) return removed;
      await this.#prepareSession();
    }
    removed += await this.#sweep(this.#sql.session, "expires <= now()");
    return removed;
  }

  /** Stops sweeping and refreshing held locks, and ends the pool if the store made it. */
  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    for (const refresh of this.#locks) this.#stopRefresh(refresh);
    if (!this.#owned) {
      this.#pool.off("error", this.#onPoolError);
      return;
    }
    // The 'error' listener stays: a late error of a closing connection must not crash the process.
    this.#closing ??= (async () => {
      // Gracefully when PostgreSQL answers (queries under way complete), at once when it does
      // not: a connection stuck on a frozen server is given up after `queryTimeout`. pg's
      // `end()` strands requests still waiting for a connection (they fail after
      // `connectTimeout`), so those are let through first.
      const waits = this.#queryTimeout + Number(this.#connectTimeout);
      const bound = delay(waits, false, { ref: false });
      await Promise.race([Promise.allSettled([...this.#running]), bound]);
      const ended = this.#pool.end().then(
        () => true,
        () => false,
      );
      await Promise.race([ended, delay(this.#queryTimeout, false, { ref: false })]);
    })();
    await this.#closing;
  }

  async #sweep(table: string, expired: string): Promise<number> {
    let removed = 0;
    for (;;) {
      // `ctid = ANY(ARRAY(…))` is a TID scan; the rows are locked by the subquery (skipping
      // those a read or another sweeper holds), so none changes between the two.
      const { rowCount } = await this.#query(
        "sweep",
        undefined,
        `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE ${expired} LIMIT ${SWEEP_BATCH} FOR UPDATE SKIP LOCKED))`,
        [],
      );
      removed += rowCount ?? 0;
      if ((rowCount ?? 0) < SWEEP_BATCH) return removed;
    }
  }

  #stopRefresh(refresh: NodeJS.Timeout): void {
    clearInterval(refresh);
    this.#locks.delete(refresh);
  }

  /** A statement about `id` (or the whole table), once the tables are checked. */
  async #query(
    action: string,
    id: string | undefined,
    text: string,
    values: unknown[],
  ): Promise<QueryResult<Record<string, unknown>>> {
    // Ids are validated before they get here; this keeps a store used directly just as safe.
    if (id !== undefined && !isSessionId(id)) {
      throw misuse(`PostgresStore: ${JSON.stringify(id)} is not a UUIDv4`);
    }
    if (this.#tables !== "checked") await this.#prepare();
    return this.#send(action, id === undefined ? this.table : `${this.table} ${id}`, text, values);
  }

  /** A statement of the sessions index about `user`, once its table is checked. */
  async #indexQuery(
    action: string,
    user: string,
    text: string,
    values: unknown[],
  ): Promise<QueryResult<Record<string, unknown>>> {
    uuid(user);
    if (this.#tables !== "checked") await this.#prepare();
    if (this.#sessionTable !== "checked") await this.#prepareSession();
    return this.#send(action, `${this.table}_session ${user}`, text, values);
  }

  async #send(
    action: string,
    subject: string,
    text: string,
    values: unknown[] = [],
  ): Promise<QueryResult<Record<string, unknown>>> {
    try {
      const config: QueryConfig & { query_timeout: number } = {
        text,
        values,
        query_timeout: this.#queryTimeout + TIMEOUT_GRACE_MS,
      };
      // The statements of requests (those with values), parsed and planned once per connection.
      if (this.#named && values.length > 0) config.name = statementName(text);
      const query = this.#pool.query(config as QueryConfig);
      this.#running.add(query);
      const result = await query.finally(() => this.#running.delete(query));
      this.#answered();
      return result;
    } catch (cause) {
      const why = this.#why(cause);
      if (isConnectionLost(cause) && this.#closing === undefined) this.#lost(why);
      throw new PersistError("STORE_FAILED", `could not ${action} ${subject}: ${why}`, { cause });
    }
  }

  /** Creates the tables if asked to, and checks that they have the columns needed. */
  #prepare(): Promise<void> {
    if (this.#tables === "unchecked") {
      this.#tables = this.#checkTables().then(
        () => {
          this.#tables = "checked";
        },
        (error: unknown) => {
          // Tried again by the next call: a table fixed, or a database back, needs no restart.
          this.#tables = "unchecked";
          throw error;
        },
      );
    }
    return this.#tables === "checked" ? Promise.resolve() : this.#tables;
  }

  /** Like `#prepare`, for `<table>_session`. */
  #prepareSession(): Promise<void> {
    if (this.#sessionTable === "unchecked") {
      this.#sessionTable = this.#checkSessionTable().then(
        () => {
          this.#sessionTable = "checked";
        },
        (error: unknown) => {
          this.#sessionTable = "unchecked";
          throw error;
        },
      );
    }
    return this.#sessionTable === "checked" ? Promise.resolve() : this.#sessionTable;
  }

  async #checkTables(): Promise<void> {
    const { state, lock, quarantine } = this.#sql;
    const run = (text: string, values?: unknown[]) =>
      this.#send("prepare", this.table, text, values);
    const check = () => run(DESCRIBE, [[state, lock, quarantine]]);
    let { rows } = await check();
    // Only when a table is missing: `CREATE … IF NOT EXISTS` still needs CREATE on the schema
    // (and CREATE INDEX the table's ownership), which a role granted only DML on tables a
    // migration made does not have.
    if (this.#createTable && rows.some((row) => row.columns === null)) {
      // Serialized by a transaction-scoped advisory lock: two servers starting at once would
      // otherwise race in `CREATE TABLE IF NOT EXISTS` (a duplicate key error in pg_type).
      await run(`BEGIN;
SELECT pg_advisory_xact_lock(hashtext('hono-persist ${state}'));
${createTablesSql(state, lock, quarantine)}
COMMIT;`);
      ({ rows } = await check());
    }
    const problems: string[] = [];
    (["state", "lock", "quarantine"] as const).forEach((kind, i) => {
      const row = rows[i] as { name: string; columns: string[] | null } | undefined;
      const name = this.#sql[kind].replace(/"/g, "");
      if (!row?.columns) {
        problems.push(`${name} does not exist`);
        return;
      }
      const missing = SHAPE[kind].filter((column) => !row.columns?.includes(column));
      if (missing.length > 0) {
        problems.push(`${name} lacks ${missing.join(", ")} (it has ${row.columns.join(", ")})`);
      }
    });
    const encoding = rows[0]?.encoding;
    if (encoding !== "UTF8") problems.push(`the database's encoding is ${encoding}, not UTF8`);
    if (problems.length > 0) {
      throw new PersistError(
        "STORE_FAILED",
        `PostgresStore cannot use ${this.table}: ${problems.join("; ")}${this.#createTable ? "" : " (create the tables as docs/stores.md shows, or set `createTable: true`)"}`,
      );
    }
  }

  async #checkSessionTable(): Promise<void> {
    const { state, session } = this.#sql;
    const name = session.replace(/"/g, "");
    const run = (text: string, values?: unknown[]) => this.#send("prepare", name, text, values);
    const sql = createSessionTableSql(session);
    let row = (await run(DESCRIBE, [[session]])).rows[0];
    let denied = "";
    if (this.#createTable && !row?.columns) {
      try {
        await run(`BEGIN;
SELECT pg_advisory_xact_lock(hashtext('hono-persist ${state}'));
${sql}
COMMIT;`);
      } catch (error) {
        // A role granted only DML on tables a migration made: this one is the migration's too.
        const cause = (error as { cause?: { code?: unknown } }).cause;
        if (cause?.code !== "42501") throw error;
        denied = ` and this role may not create it (${this.#why(cause)})`;
      }
      row = (await run(DESCRIBE, [[session]])).rows[0];
    }
    const columns = row?.columns as string[] | null | undefined;
    const missing = SHAPE.session.filter((column) => !columns?.includes(column));
    if (missing.length === 0) return;
    throw new PersistError(
      "STORE_FAILED",
      `PostgresStore cannot keep the sessions index: ${name} ${
        columns
          ? `lacks ${missing.join(", ")} (it has ${columns.join(", ")})`
          : `does not exist${denied}; run ${sql.replace(/\n/g, " ")}${this.#createTable ? "" : " (or set `createTable: true`)"}`
      }`,
    );
  }

  #answered(): void {
    if (!this.#outage) return;
    this.#outage = false;
    this.#logger.warn("[hono-persist] PostgresStore reaches PostgreSQL again");
  }

  #lost(why: string): void {
    if (this.#outage) return; // Every request fails the same way meanwhile.
    this.#outage = true;
    this.#logger.error(
      `[hono-persist] PostgresStore cannot reach PostgreSQL (${why}): requests fail until it answers again`,
    );
  }

  #why(error: unknown): string {
    const message = error instanceof Error ? error.message : String(error);
    if (message === "Query read timeout") {
      return `PostgreSQL did not answer within ${this.#queryTimeout / 1000} s`;
    }
    if (
      this.#connectTimeout !== undefined &&
      /^(timeout exceeded when trying to connect|Connection terminated due to connection timeout)$/.test(
        message,
      )
    ) {
      return `no connection to PostgreSQL within ${this.#connectTimeout / 1000} s`;
    }
    return message;
  }
}

/** What `createTable` runs (docs/stores.md shows it for those who migrate themselves). */
function createTablesSql(state: string, lock: string, quarantine: string): string {
  const index = `"${state.replace(/"/g, "").split(".").at(-1)}_expires"`;
  return `CREATE TABLE IF NOT EXISTS ${state} (id uuid PRIMARY KEY, data text NOT NULL, expires timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS ${index} ON ${state} (expires);
CREATE TABLE IF NOT EXISTS ${lock} (id uuid PRIMARY KEY, token text NOT NULL, expires timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS ${quarantine} (id uuid NOT NULL, data text NOT NULL, reason text NOT NULL, quarantined timestamptz NOT NULL);`;
}

/** What `createTable` runs for the sessions index, at its first call. */
function createSessionTableSql(session: string): string {
  const index = `"${session.replace(/"/g, "").split(".").at(-1)}_expires"`;
  return `CREATE TABLE IF NOT EXISTS ${session} (user_id uuid, id uuid, entry text NOT NULL, expires timestamptz NOT NULL, PRIMARY KEY (user_id, id));
CREATE INDEX IF NOT EXISTS ${index} ON ${session} (expires);`;
}

/** Whether the connection failed, not the statement: no answer, or a server going away. */
function isConnectionLost(error: unknown): boolean {
  // Duck-typed: a pool made by another copy of `pg` throws another copy's DatabaseError.
  const { severity, code, message } = (error ?? {}) as {
    severity?: unknown;
    code?: unknown;
    message?: unknown;
  };
  if (typeof severity === "string") return CONNECTION_LOST.test(String(code));
  // pg's own errors: a socket's (ECONNREFUSED, ECONNRESET…), or the connection's end or
  // timeout; not a misuse pg caught before sending (a statement name reused, a pool ended).
  return (
    (typeof code === "string" && /^E[A-Z]+$/.test(code)) ||
    /^(Connection terminated|Query read timeout|timeout exceeded when trying to connect|Client has encountered a connection error)/.test(
      String(message),
    )
  );
}

function uuid(id: string): void {
  if (!isSessionId(id)) throw misuse(`PostgresStore: ${JSON.stringify(id)} is not a UUIDv4`);
}

function seconds(name: string, value: unknown): void {
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw misuse(`option \`${name}\` must be a positive number of seconds`);
  }
}

/**
 * Statement text → its name: a digest, so that every store sharing a pool, and every copy of
 * this module in the process (two versions in node_modules), names one text alike and two
 * texts apart (pg refuses a name it saw on that connection with another text).
 */
function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `hono_persist_${createHash("sha256").update(text).digest("hex").slice(0, 32)}`;
    names.set(text, name);
  }
  return name;
}

type WellFormed = string & { isWellFormed(): boolean };

/** The names made so far: a request's statements are named without hashing them again. */
const names = new Map<string, string>();
