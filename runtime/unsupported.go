package runtime

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// checkUnsupported refuses, by name, every field of the spec that the
// runtime does not execute yet. Each is a request for something (an
// identity, a limit, a label, a hook) that would otherwise silently not
// happen.
func checkUnsupported(s *specs.Spec, detached bool) error {
	if s.Windows != nil || s.Solaris != nil || s.VM != nil || s.ZOS != nil {
		return unsupported("a spec for another platform (windows, solaris, vm, zos)")
	}
	// An OCI create runs the hooks (Create, its init child, Start,
	// Delete); the supervisor runs none.
	if h := s.Hooks; h != nil && !detached && (len(h.Prestart)+len(h.CreateRuntime)+len(h.CreateContainer)+
		len(h.StartContainer)+len(h.Poststart)+len(h.Poststop) > 0) {
		return unsupported("hooks (run them through containerctl-oci)")
	}
	if err := checkProcess(s.Process); err != nil {
		return err
	}
	for _, m := range s.Mounts {
		if len(m.UIDMappings)+len(m.GIDMappings) > 0 {
			return unsupported("mounts: ID-mapped mount on %s", m.Destination)
		}
	}
	if s.Linux != nil {
		return checkLinux(s.Linux)
	}
	return nil
}

func checkProcess(p *specs.Process) error {
	switch {
	case p.ConsoleSize != nil:
		return unsupported("process.consoleSize")
	case p.ApparmorProfile != "":
		return unsupported("process.apparmorProfile")
	case p.SelinuxLabel != "":
		return unsupported("process.selinuxLabel")
	case p.Scheduler != nil:
		return unsupported("process.scheduler")
	case p.IOPriority != nil:
		return unsupported("process.ioPriority")
	case p.ExecCPUAffinity != nil:
		return unsupported("process.execCPUAffinity")
	case p.CommandLine != "":
		return unsupported("process.commandLine")
	}
	return nil
}

func checkLinux(l *specs.Linux) error {
	switch {
	case l.MountLabel != "":
		return unsupported("linux.mountLabel")
	case l.IntelRdt != nil:
		return unsupported("linux.intelRdt")
	case l.Personality != nil:
		return unsupported("linux.personality")
	case len(l.TimeOffsets) > 0:
		return unsupported("linux.timeOffsets")
	case len(l.NetDevices) > 0:
		return unsupported("linux.netDevices")
	case l.MemoryPolicy != nil:
		return unsupported("linux.memoryPolicy")
	}
	for _, d := range l.Devices {
		if d.UID != nil && *d.UID != 0 || d.GID != nil && *d.GID != 0 {
			return unsupported("linux.devices: %s owned by a user other than root", d.Path)
		}
	}
	// Flags and architectures are the seccomp compiler's (security).
	if l.Seccomp != nil && (l.Seccomp.ListenerPath != "" || l.Seccomp.ListenerMetadata != "") {
		return unsupported("linux.seccomp.listenerPath (no seccomp notify)")
	}
	return checkResources(l.Resources)
}

// checkResources refuses the limits the cgroup code does not set.
func checkResources(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if m := r.Memory; m != nil && (m.Reservation != nil || m.Swap != nil || m.Kernel != nil || m.KernelTCP != nil ||
		m.Swappiness != nil || m.DisableOOMKiller != nil || m.UseHierarchy != nil || m.CheckBeforeUpdate != nil) {
		return unsupported("linux.resources.memory: only limit is set")
	}
	if c := r.CPU; c != nil && (c.RealtimeRuntime != nil || c.RealtimePeriod != nil ||
		c.Cpus != "" || c.Mems != "" || c.Idle != nil || c.Burst != nil) {
		return unsupported("linux.resources.cpu: only shares, quota and period are set")
	}
	if c := r.CPU; c != nil && c.Period != nil && c.Quota == nil {
		return unsupported("linux.resources.cpu.period without a quota")
	}
	switch {
	case r.BlockIO != nil:
		return unsupported("linux.resources.blockIO (use unified io.weight)")
	case len(r.HugepageLimits) > 0:
		return unsupported("linux.resources.hugepageLimits")
	case r.Network != nil:
		return unsupported("linux.resources.network")
	case len(r.Rdma) > 0:
		return unsupported("linux.resources.rdma")
	}
	return nil
}
