// @hey-api/openapi-ts's generated SDK and its fetch client.
// Type-checked with `tsc --strict`: the probe below must be a valid `Event`
// (a null data value, integers up to 2^53 - 1, a decimal, `$extra`), and the
// SDK functions must take the store id and body as generated. At run time each
// case goes through `createCustomEvent` or `bulkCreateCustomEvents`, the key
// through the client's `auth` (the spec's bearer scheme); the suite checks
// what was stored.
import { main, type Target, type Case } from "./cases";
import { createClient } from "./generated/hey-api/client";
import { bulkCreateCustomEvents, createCustomEvent } from "./generated/hey-api/sdk.gen";
import type { BulkEventsRequest, Event } from "./generated/hey-api/types.gen";

export const probe: Event = {
  eventName: "Conformance Probe",
  customer: { email: "probe@example.com" },
  value: 12345678.91,
  valueCurrency: "USD",
  data: { Count: 9007199254740991, Nothing: null, Flag: false, $extra: { list: [1, 2] } },
};

async function send(target: Target, testCase: Case): Promise<number> {
  const client = createClient({ baseUrl: target.baseUrl, auth: target.apiKey });
  const path = { storeId: target.storeId };
  if (testCase.operation === "createCustomEvent") {
    const { response } = await createCustomEvent({ client, path, body: testCase.body as Event });
    return response.status;
  }
  const { response } = await bulkCreateCustomEvents({
    client,
    path,
    body: testCase.body as BulkEventsRequest,
  });
  return response.status;
}

void main(send);
