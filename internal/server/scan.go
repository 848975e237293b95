package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/discovery"
	"github.com/certgate/certgate/internal/inventory"
)

// scanSchedule names the scheduled scan's row of scan_schedules.
const scanSchedule = "default"

// scheduledScan returns the options of the scheduled scan of cfg
// (scan-targets, each value split at white space), checked as `certgate
// scan run` checks its targets; ok is false without one (scan-interval 0).
// scan-starttls is checked with or without a scheduled scan, as every
// setting is. Errors wrap discovery.ErrInvalidTarget or
// discovery.ErrInvalidStartTLS and name the setting.
func scheduledScan(cfg *config.Serve) (opt discovery.Options, ok bool, err error) {
	if _, err := scanStartTLS(cfg); err != nil {
		return discovery.Options{}, false, err
	}
	if cfg.ScanInterval <= 0 {
		return discovery.Options{}, false, nil
	}
	for _, v := range cfg.ScanTargets {
		opt.Targets = append(opt.Targets, strings.Fields(v)...)
	}
	opt.Actor = "serve:scan-interval"
	if _, err := discovery.Plan(opt); err != nil {
		return discovery.Options{}, false, fmt.Errorf("scan-targets: %w", err)
	}
	return opt, true, nil
}

// scanStartTLS returns the scheduled scan's STARTTLS ports (scan-starttls,
// each value split at white space); errors wrap
// discovery.ErrInvalidStartTLS and name the setting.
func scanStartTLS(cfg *config.Serve) (map[int]string, error) {
	var m map[int]string
	for _, v := range cfg.ScanStartTLS {
		for _, w := range strings.Fields(v) {
			var err error
			if m, err = discovery.ParseStartTLS(m, w); err != nil {
				return nil, fmt.Errorf("scan-starttls: %w", err)
			}
		}
	}
	return m, nil
}

// runScanSchedule runs the scheduled scan opt every scan-interval until ctx
// ends: at once and then every minute (or every interval, if shorter) it
// marks interrupted the scans whose process died, asks whether a run is
// due, and runs it if this node claims it (store.ClaimScheduledScan: one
// node of a cluster runs each).
func (s *Server) runScanSchedule(ctx context.Context, opt discovery.Options) {
	host, _ := os.Hostname()
	node := fmt.Sprintf("%s:%d", host, os.Getpid())
	t := time.NewTicker(min(s.cfg.ScanInterval, time.Minute))
	defer t.Stop()
	for {
		s.interruptStaleScans(ctx)
		s.scanIfDue(ctx, opt, node)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// interruptStaleScans marks interrupted the scans whose process died
// (discovery.Service.InterruptStale: running longer than any scan runs,
// on any node) and logs each; serve calls it at its start and before each
// scheduled-scan check.
func (s *Server) interruptStaleScans(ctx context.Context) {
	ids, err := discovery.New(s.store, inventory.New(s.store, s.now), s.now).InterruptStale(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("interrupt stale scans", "err", err)
		}
		return
	}
	for _, id := range ids {
		s.log.Warn("scan interrupted: its process stopped before it finished", "scan", id, "running_longer_than", discovery.StaleAfter)
	}
}

// scanIfDue runs the scheduled scan if it is due and this node claims it,
// and logs its summary.
func (s *Server) scanIfDue(ctx context.Context, opt discovery.Options, node string) {
	now := s.now()
	ok, err := s.store.ClaimScheduledScan(ctx, scanSchedule, node, now, now.Add(s.cfg.ScanInterval))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("scheduled scan: claim", "err", err)
		}
		return
	}
	if !ok {
		return
	}
	starttls, _ := scanStartTLS(s.cfg) // checked at start (scheduledScan)
	sc := &discovery.Scanner{Roots: []*x509.Certificate{s.ca.Root()}, Intermediates: []*x509.Certificate{s.ca.Intermediate()}, Now: s.now,
		StartTLS: starttls}
	v, err := discovery.New(s.store, inventory.New(s.store, s.now).WithAudit(s.audit, audit.ActorSystem), s.now).Run(ctx, sc, opt)
	if err != nil {
		s.log.Error("scheduled scan failed", "err", err)
		return
	}
	shadow := 0
	for _, f := range v.Findings {
		if f.Shadow {
			shadow++
		}
	}
	s.log.Info("scheduled scan", "scan", v.ID, "status", v.Status, "endpoints", v.Endpoints, "served", v.Served,
		"failed", v.Failed, "certificates", v.Certificates, "new", v.NewCertificates, "shadow_endpoints", shadow)
}
