// openapi-typescript's types with openapi-fetch, the client made for them.
// Type-checked with `tsc --strict`: the probe below must be a valid `Event`,
// so the generated types admit what the spec allows (a null data value,
// integers up to 2^53 - 1, a decimal, objects under `$extra`), and the calls
// must match the generated `paths`. At run time each case goes through
// `client.POST` on the operation's own path; the suite checks what was stored.
import createClient from "openapi-fetch";

import { main, type Target, type Case } from "./cases";
import type { components, paths } from "./generated/openapi-typescript/schema";

type Event = components["schemas"]["Event"];
type BulkEventsRequest = components["schemas"]["BulkEventsRequest"];

export const probe: Event = {
  eventName: "Conformance Probe",
  customer: { email: "probe@example.com" },
  value: 12345678.91,
  valueCurrency: "USD",
  data: { Count: 9007199254740991, Nothing: null, Flag: false, $extra: { list: [1, 2] } },
};

async function send(target: Target, testCase: Case): Promise<number> {
  const client = createClient<paths>({
    baseUrl: target.baseUrl,
    headers: { Authorization: `Bearer ${target.apiKey}` },
  });
  const params = { path: { storeId: target.storeId } };
  if (testCase.operation === "createCustomEvent") {
    const { response } = await client.POST("/stores/{storeId}/events", {
      params,
      body: testCase.body as Event,
    });
    return response.status;
  }
  const { response } = await client.POST("/stores/{storeId}/events/bulk", {
    params,
    body: testCase.body as BulkEventsRequest,
  });
  return response.status;
}

void main(send);
