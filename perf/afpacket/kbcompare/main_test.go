package main

import (
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	in := `{"router":"off","n":1,"size":64,"in_rx_pps":700000}
{"router":"kernel","n":1,"size":64,"in_rx_pps":500000,"total_out_pps":500000,"ns_per_out_pkt":1800}
{"router":"kernel","n":1,"size":64,"in_rx_pps":600000,"total_out_pps":600000,"ns_per_out_pkt":1600}
{"router":"afpacket","n":1,"size":64,"in_rx_pps":300000,"total_out_pps":300000,"ns_per_out_pkt":3300}
{"router":"afpacket","n":1,"size":64,"in_rx_pps":330000,"total_out_pps":330000,"ns_per_out_pkt":3000}
`
	var out strings.Builder
	if err := run(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	want := "| 64 | 1 | 550k | 315k | 0.57 | 550k | 315k | 0.57 | 1700 | 3150 | 1.85 | 0 | 0 |"
	if !strings.Contains(out.String(), want) {
		t.Fatalf("got\n%s\nwant a row\n%s", out.String(), want)
	}
	if err := run(strings.NewReader(`{"router":"kernel","n":1,"size":64}`), &out); err == nil {
		t.Fatal("one router only: want an error")
	}
}
