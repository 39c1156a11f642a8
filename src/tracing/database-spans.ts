import { errorTypeOf, type Tracing } from './tracing.js';

export type DatabaseSystem = 'sqlite' | 'postgresql';

/** What a statement does, for its span: the operation and the table it names first. */
export interface StatementSummary {
  operation: string;
  table: string | null;
}

const TABLE = /\b(?:from|into|update)\s+((?:"[^"]+"|[A-Za-z_][\w$]*)(?:\.(?:"[^"]+"|[A-Za-z_][\w$]*))?)/i;
const MAIN_STATEMENT = /\b(select|insert|update|delete)\b/gi;

/**
 * The operation and table of SQL text as Kysely compiles it (identifiers in
 * double quotes, values as placeholders). A `with` query is named after its
 * main statement, the first one outside the parentheses of its common table
 * expressions (`with gone as (delete …) insert into t …` is an INSERT
 * into t).
 */
export function statementSummary(text: string): StatementSummary {
  const first = /^\s*([A-Za-z]+)/.exec(text)?.[1]?.toUpperCase() ?? 'SQL';
  let body = text;
  let operation = first;
  if (first === 'WITH') {
    const main = outsideParentheses(text);
    if (!main) return { operation: first, table: null };
    operation = main.word.toUpperCase();
    body = text.slice(main.index);
  }
  if (!['SELECT', 'INSERT', 'UPDATE', 'DELETE'].includes(operation)) return { operation, table: null };
  const table = TABLE.exec(body)?.[1]?.replace(/"/g, '') ?? null;
  return { operation, table };
}

/** The first select/insert/update/delete at parenthesis depth 0. */
function outsideParentheses(text: string): { word: string; index: number } | null {
  MAIN_STATEMENT.lastIndex = 0;
  for (let match = MAIN_STATEMENT.exec(text); match !== null; match = MAIN_STATEMENT.exec(text)) {
    let depth = 0;
    for (let i = 0; i < match.index; i++) depth += text[i] === '(' ? 1 : text[i] === ')' ? -1 : 0;
    if (depth === 0) return { word: match[1]!, index: match.index };
  }
  return null;
}

const MAX_QUERY_TEXT = 2048;

/**
 * Runs one statement (`run` returns its result, or a promise of it) inside a
 * CLIENT span named `OPERATION table` with the database conventions'
 * attributes: the system, the operation, the table and the statement's text,
 * which holds placeholders and never a parameter's value. Nothing is traced
 * outside a traced request (the feed's polls, the checkpointer, the pruner).
 * Summaries are kept per SQL text (statements repeat), up to 2,000 texts.
 */
export function statementTracer(tracing: Tracing, system: DatabaseSystem): <T>(text: string, run: () => T) => T {
  const summaries = new Map<string, { name: string; operation: string; table: string | null }>();
  return <T>(text: string, run: () => T): T => {
    let summary = summaries.get(text);
    if (!summary) {
      const { operation, table } = statementSummary(text);
      summary = { name: table ? `${operation} ${table}` : operation, operation, table };
      if (summaries.size < 2000) summaries.set(text, summary);
    }
    const started = tracing.clientSpan(summary.name, {
      'db.system.name': system,
      'db.operation.name': summary.operation,
      ...(summary.table ? { 'db.collection.name': summary.table } : {}),
      'db.query.text': text.length > MAX_QUERY_TEXT ? text.slice(0, MAX_QUERY_TEXT) : text,
    });
    if (!started) return run();
    const { span } = started;
    const failed = (error: unknown) => {
      tracing.fail(span, errorTypeOf(error));
      span.end();
      throw error;
    };
    let result: T;
    try {
      result = run();
    } catch (error) {
      return failed(error);
    }
    if (result instanceof Promise) {
      return result.then((value: unknown) => {
        span.end();
        return value;
      }, failed) as T;
    }
    span.end();
    return result;
  };
}
