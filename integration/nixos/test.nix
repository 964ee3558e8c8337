# A NixOS VM test of module.nix: a host boots a container from `config`
# at boot, the guest is checked from inside with `containerctl exec`, a
# changed configuration is activated with a reload (the guest's PID 1 and
# the unit's main process unchanged), and the container is stopped with a
# clean halt. It needs Nix with nixpkgs (and KVM, to be quick):
#
#   nix-build integration/nixos/test.nix
#   nix-build integration/nixos/test.nix -I nixpkgs=/path/to/nixpkgs
#   nix-build integration/nixos/test.nix -A driverInteractive   # then ./result/bin/nixos-test-driver
#
# CI here has Nix without nixpkgs: it parses this file, and checks the
# unit the module writes against containerctl (nixos_test.go).
{
  pkgs ? import <nixpkgs> { },
}:

let
  # go.mod asks for Go 1.26.8; nixpkgs names its newer Go's builder so.
  buildGoModule = pkgs.buildGo126Module or pkgs.buildGoModule;
in
pkgs.testers.nixosTest {
  name = "containerctl-nixos";

  nodes.host =
    { lib, ... }:
    {
      imports = [ ./module.nix ];

      virtualisation.memorySize = 2048;
      virtualisation.cores = 2;

      containerctl.package = pkgs.callPackage ./package.nix { inherit buildGoModule; };

      containerctl.containers.foo = {
        autoStart = true;
        # The module's default is "pick"; this test runs without private
        # users, so that it passes with the containerctl of today.
        privateUsers = "no";
        # A NixOS boot in a VM without KVM takes its time.
        timeoutStartSec = "5min";
        stopTimeout = 60;
        tasksMax = 2048;
        config =
          { lib, ... }:
          {
            system.stateVersion = lib.trivial.release;
            environment.etc.check.text = "base";
          };
      };

      # The changed configuration, activated by switch-to-configuration
      # test: the same container with another /etc/check.
      specialisation.changed.configuration = {
        containerctl.containers.foo.config =
          { lib, ... }:
          {
            environment.etc.check.text = lib.mkForce "changed";
          };
      };
    };

  testScript =
    { nodes, ... }:
    let
      changed = "${nodes.host.system.build.toplevel}/specialisation/changed";
    in
    ''
      import json

      def guest(cmd):
          return host.succeed(f"containerctl exec foo -- /run/current-system/sw/bin/{cmd}").strip()

      def guest_pid():
          return json.loads(host.succeed("containerctl status foo --json"))["pid"]

      def unit(prop):
          return host.succeed(f"systemctl show -P {prop} container-foo.service").strip()

      start_all()

      with subtest("the container starts at boot, ready once its systemd is"):
          host.wait_for_unit("container-foo.service", timeout=600)
          state = host.execute("containerctl exec foo -- /run/current-system/sw/bin/systemctl is-system-running")[1].strip()
          assert state in ("running", "degraded"), f"the guest is {state!r} once the unit is active"
          assert unit("Type") == "notify"
          # systemd waits for the halt: stopTimeout (60 s) and 15 s more.
          assert unit("TimeoutStopUSec") == "1min 15s", unit("TimeoutStopUSec")
          # 128 for the host, 16 for its one container.
          host.succeed("test $(cat /proc/sys/fs/inotify/max_user_instances) -ge 144")
          host.succeed("journalctl -u container-foo.service | grep -q 'Welcome to'")

      with subtest("checked from inside with containerctl exec"):
          assert guest("cat /etc/check") == "base"
          assert guest("cat /proc/sys/kernel/hostname") == "foo"
          # Its cgroup is below the unit's, and the limit is there.
          cg = unit("ControlGroup")
          host.succeed(f"grep -rqx 2048 --include=pids.max /sys/fs/cgroup{cg}")

      with subtest("a changed configuration is reloaded, without a reboot"):
          pid, main, restarts = guest_pid(), unit("MainPID"), unit("NRestarts")
          host.succeed("${changed}/bin/switch-to-configuration test >&2")
          assert guest("cat /etc/check") == "changed"
          assert guest_pid() == pid, "the guest's PID 1 changed: it was restarted, not reloaded"
          assert unit("MainPID") == main and unit("NRestarts") == restarts
          host.succeed("journalctl -u container-foo.service | grep -q 'Reloaded\\|reloaded\\|switched to'")
          host.succeed("readlink -f /nix/var/nix/profiles/containers/foo | grep -q -- -nixos-system-foo")

      with subtest("stop halts the guest cleanly and leaves nothing behind"):
          cg = unit("ControlGroup")
          host.succeed("systemctl stop container-foo.service")
          host.fail("systemctl is-active container-foo.service")
          assert unit("Result") == "success", unit("Result")
          host.fail(f"test -e /sys/fs/cgroup{cg}")
          host.fail("containerctl status foo")
    '';
}
