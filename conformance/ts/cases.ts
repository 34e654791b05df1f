// What both TypeScript drivers share: run as `node send_X.js BASE_URL STORE_ID
// API_KEY CASES_JSON`, a driver sends each case (`{name, operation, body}`,
// the operation an operationId of the spec) through one generated client and
// prints one JSON line per case: `{"case", "status"}` with the status the API
// answered, or `{"case", "error"}` when no answer came (the client refused).
// scripts/conformance compares what the emulator stored with what was sent.
import { readFileSync } from "node:fs";

export interface Target {
  baseUrl: string;
  storeId: string;
  apiKey: string;
}

export interface Case {
  name: string;
  operation: "createCustomEvent" | "bulkCreateCustomEvents";
  body: unknown;
}

export type Send = (target: Target, testCase: Case) => Promise<number>;

export async function main(send: Send): Promise<void> {
  const [baseUrl, storeId, apiKey, casesPath] = process.argv.slice(2);
  if (casesPath === undefined) {
    throw new Error("usage: node send.js BASE_URL STORE_ID API_KEY CASES_JSON");
  }
  const target: Target = { baseUrl, storeId, apiKey };
  // JSON.parse reads every number as a double; the cases stay within 2^53 - 1,
  // where a double is exact, so the driver hands the client what was written.
  const cases = JSON.parse(readFileSync(casesPath, "utf-8")) as Case[];
  for (const testCase of cases) {
    let line: Record<string, unknown>;
    try {
      line = { case: testCase.name, status: await send(target, testCase) };
    } catch (error) {
      line = { case: testCase.name, error: String(error).slice(0, 2000) };
    }
    process.stdout.write(JSON.stringify(line) + "\n");
  }
}
