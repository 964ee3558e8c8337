package main

import (
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/spf13/cobra"

	"github.com/containerctl/containerctl/mount"
)

// ociFeatures is what containerctl-oci features prints: what the engine
// executes, every other spec field being refused with its name.
func ociFeatures() features.Features {
	yes := true
	var caps []string
	for _, c := range capability.ListKnown() {
		caps = append(caps, "CAP_"+strings.ToUpper(c.String()))
	}
	return features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  mount.OptionNames(),
		Linux: &features.Linux{
			Namespaces:   []string{"mount", "pid", "uts", "ipc", "network", "cgroup"},
			Capabilities: caps,
			// Not the systemd driver: --systemd-cgroup lays cgroupsPath
			// out as systemd would, but makes no unit through systemd.
			Cgroup: &features.Cgroup{V1: &yes, V2: &yes, Systemd: new(bool), SystemdUser: new(bool), Rdma: new(bool)},
			Seccomp: &features.Seccomp{
				Enabled: &yes,
				Actions: []string{"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
					"SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRAP"},
				Operators: []string{"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
					"SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"},
				Archs: []string{"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"},
			},
			Apparmor: &features.Apparmor{Enabled: new(bool)},
			Selinux:  &features.Selinux{Enabled: new(bool)},
		},
		Annotations: map[string]string{"org.containerctl.version": version},
	}
}

func ociFeaturesCommand() *cobra.Command {
	return &cobra.Command{
		Use: "features", Short: "Print what the engine executes (the runtime spec's features JSON)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return printJSON(ociFeatures()) },
	}
}
