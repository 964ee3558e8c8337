# containerctl for nixpkgs: pkgs.callPackage ./package.nix { }.
#
# go.mod asks for Go 1.26.8: where nixpkgs' default Go is older, pass a
# newer one, e.g. callPackage ./package.nix { buildGoModule = buildGo126Module; }.
#
# vendorHash is the NAR hash of what `go mod vendor` makes of go.mod and
# go.sum, the output of buildGoModule's goModules derivation. Recompute it
# after a change to either (integration/nixos/nixos_test.go, TestVendorHash,
# fails until then):
#
#   go mod vendor -o /tmp/containerctl-vendor/vendor
#   nix --extra-experimental-features nix-command hash path /tmp/containerctl-vendor/vendor
#
# or set vendorHash = lib.fakeHash and take the hash nix-build reports.
{
  lib,
  buildGoModule,
  glibc,
}:

buildGoModule {
  pname = "containerctl";
  version = "0-unstable";

  # The product's packages and nothing else, so that a change to the tests
  # does not rebuild it.
  src = lib.fileset.toSource {
    root = ../..;
    fileset = lib.fileset.unions [
      ../../go.mod
      ../../go.sum
      ../../cmd
      ../../runtime
      ../../mount
      ../../cgroup
      ../../signals
    ];
  };

  vendorHash = "sha256-6jZ6KA2Ha0U1X6HS2Gtw0ZyuOAmgTgh3poXhsECaBA4=";

  subPackages = [ "cmd/containerctl" ];

  # As the Makefile builds it: no cgo, a static binary.
  env.CGO_ENABLED = 0;
  ldflags = [
    "-s"
    "-w"
  ];

  # containerctl-nsenter, exec's single-threaded step in C
  # (runtime/nsenter/helper): static, since containerctl runs a sealed
  # memfd copy of it that must need no loader. containerctl-reaper, the
  # waiting part of a supervisor's reaper (runtime/reaper), and
  # containerctl-monitor, what a supervisor execs into once its container
  # runs (runtime/monitor). containerctl looks for them beside itself, so
  # they go in $out/bin.
  buildInputs = [ glibc.static ];
  postBuild = ''
    $CC -static -Os -Wall -Werror -o containerctl-nsenter runtime/nsenter/helper/nsenter.c
    $CC -static -Os -Wall -Werror -o containerctl-reaper runtime/reaper/reaper.c
    $CC -static -Os -Wall -Werror -o containerctl-monitor runtime/monitor/monitor.c
  '';
  postInstall = ''
    install -Dm755 containerctl-nsenter $out/bin/containerctl-nsenter
    install -Dm755 containerctl-reaper $out/bin/containerctl-reaper
    install -Dm755 containerctl-monitor $out/bin/containerctl-monitor
  '';

  # The unit tests run in `make test`; most of what containerctl does needs
  # root and a cgroup tree, which the build sandbox has not.
  doCheck = false;

  meta = {
    description = "Runs whole systems (NixOS, systemd) in lightweight containers; an engine for NixOS containers";
    mainProgram = "containerctl";
    platforms = lib.platforms.linux;
  };
}
