package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestUnreachable: a failed dial (net/http's *url.Error) is unreachable;
// an answer that does not decode, truncated ones included (io.EOF from a
// decoder), is not.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	_, dialErr := http.DefaultClient.Do(req)
	if dialErr == nil {
		t.Fatal("a request to a closed port succeeded")
	}
	var syntax *json.SyntaxError
	decodeErr := json.Unmarshal([]byte("<html>"), &struct{}{})
	if !errors.As(decodeErr, &syntax) {
		t.Fatalf("decode error %v", decodeErr)
	}
	for err, want := range map[error]bool{
		dialErr:                          true,
		fmt.Errorf("order: %w", dialErr): true,
		// A body cut short, as a JSON decoder reports it: an answer.
		fmt.Errorf("decode: %w", io.ErrUnexpectedEOF): false,
		fmt.Errorf("decode: %w", io.EOF):              false,
		fmt.Errorf("decode: %w", decodeErr):           false,
		errors.New("no certificate in the answer"):    false,
	} {
		if got := Unreachable(err); got != want {
			t.Errorf("Unreachable(%v) = %v, want %v", err, got, want)
		}
	}
}
