package va

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/certgate/certgate/internal/acme"
)

const (
	// maxRedirects is how many redirects http-01 follows (RFC 8555 §8.3
	// says servers SHOULD follow redirects, §10.2 on their risks).
	maxRedirects = 10
	// maxBodyBytes caps the http-01 response body.
	maxBodyBytes = 64 << 10
	// excerptBytes is how much of a wrong body a problem detail quotes.
	excerptBytes = 100
	// userAgent identifies validation requests.
	userAgent = "certgate-va (+https://github.com/certgate/certgate)"
)

// redirectError is a redirect the VA refuses to follow: from is the URL
// that redirected, msg says where to and why (client-safe, no userinfo).
type redirectError struct{ from, msg string }

func (e *redirectError) Error() string { return e.msg }

// refuseRedirect builds the redirectError for the redirect to req.
func refuseRedirect(req *http.Request, via []*http.Request, format string, args ...any) error {
	target := *req.URL
	target.User = nil
	return &redirectError{
		from: via[len(via)-1].URL.String(),
		msg:  fmt.Sprintf("redirect to %s refused: ", target.String()) + fmt.Sprintf(format, args...),
	}
}

// validateHTTP01 implements RFC 8555 §8.3: GET
// http://HOST:HTTPPort/.well-known/acme-challenge/TOKEN, connecting to the
// identifier's resolved addresses (or the IP itself, RFC 8738 §4), with
// "Host: HOST" (no port, no trailing dot; IPv6 in brackets). The body,
// trailing whitespace trimmed, must equal keyAuthorization.
//
// Redirects are followed per checkRedirect, https targets without
// certificate verification; every request of every hop goes on a
// connection of its own (oneShotTransport) dialled by dialForHTTP and so
// through the address policy. The body is read up to maxBodyBytes, and
// the whole exchange is bounded by ctx.
func (v *VA) validateHTTP01(ctx context.Context, t target, token, keyAuthorization string) error {
	u := &url.URL{
		Scheme: "http",
		Host:   v.hostPort(t.host(), "http", ""),
		Path:   "/.well-known/acme-challenge/" + token,
	}
	client := &http.Client{Transport: oneShotTransport{v}, CheckRedirect: v.checkRedirect}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return failf(t.id, err, acme.Malformed, "cannot build challenge URL")
	}
	// Host without port: lego's challenge server accepts any Host that
	// starts with the domain, certbot standalone does not check it, and
	// name-based virtual hosts (nginx, Apache) match on the name alone.
	req.Host = t.host()
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")
	req.Close = true // "Connection: close": one request per connection

	resp, err := client.Do(req)
	if err != nil {
		return httpFailure(t.id, u.String(), err)
	}
	defer func() { _ = resp.Body.Close() }()
	final := resp.Request.URL.String()

	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return failf(t.id, err, acme.Connection, "fetching %s: reading response: %s", final, afterConnectDetail(err))
	}
	if resp.StatusCode != http.StatusOK {
		return failf(t.id, nil, acme.IncorrectResponse, "invalid response from %s: HTTP %d, body %s",
			final, resp.StatusCode, excerpt(body))
	}
	if len(body) > maxBodyBytes {
		return failf(t.id, nil, acme.IncorrectResponse, "invalid response from %s: body larger than %d bytes", final, maxBodyBytes)
	}
	got := strings.TrimRight(string(body), " \t\r\n\v\f")
	if got != keyAuthorization {
		return failf(t.id, nil, acme.IncorrectResponse,
			"the key authorization file from %s does not match this challenge: expected %q, got %s",
			final, keyAuthorization, excerpt(body))
	}
	return nil
}

// hostPort returns host with the port to use for scheme: the configured
// port when port is "", port itself otherwise; the default port of the
// scheme (80/443) is left out so URLs stay canonical.
func (v *VA) hostPort(host, scheme, port string) string {
	if port == "" {
		p := v.cfg.HTTPPort
		if scheme == "https" {
			p = v.cfg.TLSPort
		}
		port = strconv.Itoa(p)
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return host
	}
	return host + ":" + port
}

// checkRedirect vets and rewrites each redirect (RFC 8555 §8.3 and §10.4;
// CA/B Forum BR 3.2.2.4.18/19: redirects only to http or https URLs on
// ports 80 or 443):
//   - at most maxRedirects;
//   - status 301, 302, 307 or 308 (BR 3.2.2.4.18; Go would also follow
//     303);
//   - scheme http or https;
//   - no userinfo (the client would send it as Basic credentials);
//   - port absent, the scheme's standard port (80, 443) or the configured
//     port for the scheme (HTTPPort, TLSPort; equal to 80 and 443 unless
//     the VA runs on test ports); the request goes to the configured port;
//   - an IP literal must be allowed by the address policy and carry no
//     IPv6 zone (resolved names are checked when dialing);
//   - no loops.
//
// The Host header is the new host without port or trailing dot, like the
// first request.
func (v *VA) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return refuseRedirect(req, via, "too many redirects (more than %d)", maxRedirects)
	}
	if r := req.Response; r != nil {
		switch r.StatusCode {
		case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		default:
			return refuseRedirect(req, via, "HTTP %d is not a redirect the CA/B Forum allows (only 301, 302, 307, 308)", r.StatusCode)
		}
	}
	u := req.URL
	if u.Scheme != "http" && u.Scheme != "https" {
		return refuseRedirect(req, via, "unsupported scheme %q (only http and https)", u.Scheme)
	}
	if u.User != nil {
		return refuseRedirect(req, via, "URL has userinfo (user:password@)")
	}
	hostname := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if hostname == "" {
		return refuseRedirect(req, via, "URL has no host")
	}
	want, std := v.cfg.HTTPPort, "80"
	if u.Scheme == "https" {
		want, std = v.cfg.TLSPort, "443"
	}
	if p := u.Port(); p != "" && p != std && p != strconv.Itoa(want) {
		allowed := std
		if strconv.Itoa(want) != std {
			allowed += " or " + strconv.Itoa(want)
		}
		return refuseRedirect(req, via, "port %s not allowed (%s redirects must use port %s)", p, u.Scheme, allowed)
	}
	host := hostname
	if ip, err := netip.ParseAddr(hostname); err == nil {
		if ip.Zone() != "" {
			return refuseRedirect(req, via, "IPv6 address with a zone")
		}
		if err := v.policy.check(ip); err != nil {
			return refuseRedirect(req, via, "%v", err)
		}
		if ip.Is6() {
			host = "[" + hostname + "]"
		}
	}
	u.Host = v.hostPort(host, u.Scheme, "")
	req.Host = host
	for _, prev := range via {
		if prev.URL.String() == u.String() {
			return refuseRedirect(req, via, "redirect loop")
		}
	}
	return nil
}

// dialForHTTP resolves the request host through the VA's Resolver and
// connects to its addresses the address policy allows, IPv6 first, falling
// back to the next address when a connection fails. It dials the checked
// IP itself, so the name is resolved once per connection.
func (v *VA) dialForHTTP(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip.Unmap()}
	} else {
		ips, err := v.resolver.LookupIPs(ctx, host)
		if err != nil {
			return nil, err
		}
		addrs = orderAddrs(ips)
	}
	return dialAny(ctx, v.policy, addrs, port)
}

// httpFailure maps an http.Client error to a problem.
func httpFailure(id acme.Identifier, first string, err error) error {
	where := first
	var ue *url.Error
	if errors.As(err, &ue) {
		where = ue.URL
	}
	var re *redirectError
	var le *LookupError
	var pe *deniedAddrError
	var de *dialError
	var he *tlsHandshakeError
	var ne net.Error
	switch {
	case errors.As(err, &re):
		return failf(id, err, acme.Connection, "fetching %s: %s", re.from, re.msg)
	case errors.As(err, &pe):
		return failf(id, err, acme.Connection, "fetching %s: %s", where, pe.Error())
	case errors.As(err, &le):
		return dnsProblem(id, err)
	case errors.As(err, &de):
		return failf(id, err, acme.Connection, "fetching %s: %s (%s)", where, connDetail(de.err), de.addr)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		// Not a dial error: the connection was made (dialError covers
		// connections that never opened).
		return failf(id, err, acme.Connection, "fetching %s: %s", where, afterConnectDetail(err))
	case errors.As(err, &he):
		return failf(id, err, acme.TLS, "fetching %s: TLS handshake failed: %s", where, tlsErrorText(he.err))
	default:
		return failf(id, err, acme.Connection, "fetching %s: %s", where, afterConnectDetail(err))
	}
}

// excerpt quotes at most excerptBytes of b, valid UTF-8 only, so problem
// details stay short and printable.
func excerpt(b []byte) string {
	b = bytes.TrimRight(b, " \t\r\n\v\f")
	cut := len(b) > excerptBytes
	if cut {
		b = b[:excerptBytes]
		for i := 0; i < utf8.UTFMax-1 && len(b) > 0 && !utf8.Valid(b); i++ {
			b = b[:len(b)-1]
		}
	}
	s := strconv.Quote(string(b))
	if cut {
		s += "..."
	}
	return s
}
