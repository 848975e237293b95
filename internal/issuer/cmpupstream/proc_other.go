//go:build !linux

package cmpupstream

import "syscall"

// childAttr: no parent-death signal outside Linux.
func childAttr() *syscall.SysProcAttr { return nil }
