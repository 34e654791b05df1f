// The Go driver: each case decoded into openapi-generator's own Go types and
// sent through its EventsAPI.
//
// Run as `driver BASE_URL STORE_ID API_KEY CASES_JSON`; prints one JSON line
// per case: {"case", "status"} with the API's answer, or {"case", "error"}
// when none came (the generated types refused the case). Decoding into redo.Event
// and redo.BulkEventsRequest is what a Go service does with the data it
// builds, so a field type that cannot hold a value the spec allows shows here:
// a float32 turns 123456789 into 123456792, a dropped null branch cannot be
// encoded again. scripts/conformance compares what the emulator stored with
// what was sent. The driver needs the standard library and the generated
// package only, so it builds with no module proxy.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

	redo "redo-kit.invalid/conformance/redo"
)

type testCase struct {
	Name      string          `json:"name"`
	Operation string          `json:"operation"`
	Body      json.RawMessage `json:"body"`
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: driver BASE_URL STORE_ID API_KEY CASES_JSON")
		os.Exit(2)
	}
	baseURL, storeID, apiKey, casesPath := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	raw, err := os.ReadFile(casesPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var cases []testCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	configuration := redo.NewConfiguration()
	configuration.Servers = redo.ServerConfigurations{{URL: baseURL}}
	client := redo.NewAPIClient(configuration)
	ctx := context.WithValue(context.Background(), redo.ContextAccessToken, apiKey)
	out := json.NewEncoder(os.Stdout)
	for _, c := range cases {
		status, err := send(ctx, client, storeID, c)
		line := map[string]any{"case": c.Name}
		if err != nil {
			line["error"] = err.Error()
		} else {
			line["status"] = status
		}
		if err := out.Encode(line); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}

func send(ctx context.Context, client *redo.APIClient, storeID string, c testCase) (int, error) {
	var response *http.Response
	var err error
	switch c.Operation {
	case "createCustomEvent":
		var event redo.Event
		if err := json.Unmarshal(c.Body, &event); err != nil {
			return 0, fmt.Errorf("decoding into redo.Event: %w", err)
		}
		response, err = client.EventsAPI.CreateCustomEvent(ctx, storeID).Event(event).Execute()
	case "bulkCreateCustomEvents":
		var request redo.BulkEventsRequest
		if err := json.Unmarshal(c.Body, &request); err != nil {
			return 0, fmt.Errorf("decoding into redo.BulkEventsRequest: %w", err)
		}
		response, err = client.EventsAPI.BulkCreateCustomEvents(ctx, storeID).
			BulkEventsRequest(request).Execute()
	default:
		return 0, fmt.Errorf("unknown operation %q", c.Operation)
	}
	// An error with a response is the API's answer (a 400, say): the request
	// was sent, and its status is what the suite judges.
	if response != nil {
		return response.StatusCode, nil
	}
	return 0, err
}
