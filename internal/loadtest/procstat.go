package loadtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory is a process's resident memory, from /proc/PID/status (Linux only).
type Memory struct {
	// Peak is the high-water mark of the resident set (VmHWM), in bytes.
	Peak uint64
	// Current is the resident set now (VmRSS), in bytes.
	Current uint64
}

// MiB is n bytes in mebibytes.
func MiB(n uint64) float64 { return float64(n) / (1 << 20) }

func (m Memory) String() string {
	return fmt.Sprintf("peak RSS %.1f MiB, RSS %.1f MiB", MiB(m.Peak), MiB(m.Current))
}

// ReadMemory reads the resident memory of process pid from /proc.
func ReadMemory(pid int) (Memory, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	return parseStatus(raw)
}

// parseStatus reads VmHWM and VmRSS ("VmHWM:	  123456 kB") from a status file.
func parseStatus(raw []byte) (Memory, error) {
	var m Memory
	var seen int
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmHWM" && key != "VmRSS") {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) != 2 || fields[1] != "kB" {
			return Memory{}, fmt.Errorf("unexpected %s line %q", key, sc.Text())
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("unexpected %s line %q", key, sc.Text())
		}
		if key == "VmHWM" {
			m.Peak = kb << 10
		} else {
			m.Current = kb << 10
		}
		seen++
	}
	if seen != 2 {
		return Memory{}, fmt.Errorf("no VmHWM and VmRSS in the process status (a kernel thread, or not Linux?)")
	}
	return m, nil
}
