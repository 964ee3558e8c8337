# NixOS containers with containerctl as the engine.
#
#   imports = [ ./integration/nixos/module.nix ];
#   containerctl.containers.web = {
#     autoStart = true;
#     config = { services.nginx.enable = true; system.stateVersion = "25.05"; };
#   };
#
# Its options live under containerctl.containers.<name>, so that it can be
# imported beside nixpkgs' own containers.<name> (nixos-containers.nix,
# systemd-nspawn) without a clash; they take the names nixpkgs uses, plus
# the resource limits and the stop timeout nixpkgs lacks. Each container
# becomes container-<name>.service, the unit `containerctl unit` prints
# (unit.nix is the pure part, checked against containerctl in CI), with
# its settings in /etc/containers/<name>.conf.
#
# A changed `config` (or `path`) is activated without a reboot:
# switch-to-configuration points the container's profile,
# /nix/var/nix/profiles/containers/<name>, at the new system and reloads
# the unit, whose ExecReload is `containerctl reload <name>`: the new
# profile's switch-to-configuration runs inside, the guest's PID 1 stays.
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}@host:

let
  inherit (lib)
    concatStringsSep
    length
    literalExpression
    mapAttrs'
    mapAttrsToList
    mkDefault
    mkIf
    mkOption
    nameValuePair
    types
    ;

  cfg = config.containerctl;
  gen = import ./unit.nix;
  d = gen.defaults;

  # containerctl's default --path: the container's profile, a link that
  # activation points at the system. It is under /nix so that the guest,
  # which sees the host's /nix, resolves it too (reload does, inside); a
  # link in /nix/var/nix/profiles is a garbage-collector root.
  profileDir = "/nix/var/nix/profiles/containers";
  bin = "${cfg.package}/bin/containerctl";

  # podman's module (virtualisation.containers) writes these to
  # /etc/containers; a container of that name would be merged into it.
  podmanFiles = [
    "containers"
    "registries"
    "storage"
    "mounts"
  ];

  bindMountOpts =
    { name, ... }:
    {
      options = {
        mountPoint = mkOption {
          type = types.str;
          example = "/mnt/usb";
          description = "Mount point in the container.";
        };
        hostPath = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "/home/alice";
          description = "The host path to bind; the mount point's own path on the host when null.";
        };
        isReadOnly = mkOption {
          type = types.bool;
          default = true;
          description = "Whether the bind is read-only.";
        };
      };
      config.mountPoint = mkDefault name;
    };

  portOpts = {
    options = {
      protocol = mkOption {
        type = types.enum [
          "tcp"
          "udp"
        ];
        default = "tcp";
        description = "The protocol forwarded.";
      };
      hostPort = mkOption {
        type = types.port;
        description = "The port on the host.";
      };
      containerPort = mkOption {
        type = types.nullOr types.port;
        default = null;
        description = "The port in the container; hostPort when null.";
      };
    };
  };

  limit =
    what: example:
    mkOption {
      type = types.nullOr (types.either types.str types.ints.unsigned);
      default = null;
      inherit example;
      description = "${what}, as systemd.resource-control(5) writes it; containerctl's default when null.";
    };

  containerOpts =
    {
      name,
      config,
      options,
      ...
    }:
    {
      options = {
        config = mkOption {
          description = ''
            The container's NixOS configuration, as a module. It is
            evaluated with boot.isContainer = true and the container's
            name as hostname; its system becomes `path`.
          '';
          type = lib.mkOptionType {
            name = "NixOS configuration";
            merge =
              loc: defs:
              (import (modulesPath + "/../lib/eval-config.nix") {
                # The platform is the host's, set below.
                system = null;
                prefix = [
                  "containerctl"
                  "containers"
                  name
                  "config"
                ];
                modules = [
                  (
                    { options, ... }:
                    {
                      nixpkgs =
                        if options.nixpkgs ? hostPlatform then
                          { hostPlatform = mkDefault host.pkgs.stdenv.hostPlatform; }
                        else
                          { localSystem = mkDefault host.pkgs.stdenv.hostPlatform; };
                      boot.isContainer = true;
                      networking.hostName = mkDefault name;
                      networking.useDHCP = false;
                    }
                  )
                ] ++ map (def: def.value) defs;
              }).config;
          };
        };

        path = mkOption {
          type = types.path;
          example = "/nix/var/nix/profiles/per-container/web";
          description = ''
            The system the container runs: set from `config`, or, instead
            of it, the path of a NixOS system or of a profile linking to one.
          '';
        };

        root = mkOption {
          type = types.nullOr types.str;
          default = d.root;
          example = "/srv/containers/web";
          description = "The container's root directory; /var/lib/containers/<name> when null.";
        };

        autoStart = mkOption {
          type = types.bool;
          default = d.autoStart;
          description = "Whether the container starts at boot (machines.target).";
        };

        restartIfChanged = mkOption {
          type = types.bool;
          default = true;
          description = ''
            Whether switch-to-configuration restarts the container when
            its flags change. A changed system alone is reloaded, never
            restarted.
          '';
        };

        privateNetwork = mkOption {
          type = types.bool;
          default = d.privateNetwork;
          description = ''
            Whether the container gets a network namespace of its own; with
            hostAddress/localAddress or hostBridge, a veth pair to the host.
          '';
        };

        hostAddress = mkOption {
          type = types.nullOr types.str;
          default = d.hostAddress;
          example = "10.231.136.1";
          description = "The IPv4 address of the host's end of the veth pair (--host-address).";
        };

        localAddress = mkOption {
          type = types.nullOr types.str;
          default = d.localAddress;
          example = "10.231.136.2";
          description = "The IPv4 address of the container's end of the veth pair (--local-address).";
        };

        hostBridge = mkOption {
          type = types.nullOr types.str;
          default = d.hostBridge;
          example = "br0";
          description = "A host bridge to put the host's end of the veth pair in (--network-bridge).";
        };

        forwardPorts = mkOption {
          type = types.listOf (types.submodule portOpts);
          default = d.forwardPorts;
          example = [
            {
              protocol = "tcp";
              hostPort = 8080;
              containerPort = 80;
            }
          ];
          description = "Ports forwarded from the host to the container (--port PROTO:HOST:CONTAINER).";
        };

        bindMounts = mkOption {
          type = types.attrsOf (types.submodule bindMountOpts);
          default = d.bindMounts;
          example = literalExpression ''
            { "/home" = { hostPath = "/home/alice"; isReadOnly = false; }; }
          '';
          description = "Host directories bound into the container (--bind, --bind-ro).";
        };

        privateUsers = mkOption {
          type = types.either types.ints.u32 (
            types.either (types.enum [
              "no"
              "identity"
              "pick"
            ]) (types.strMatching "[0-9]+:[0-9]+")
          );
          default = d.privateUsers;
          description = ''
            The container's own UID/GID range (--private-users): "pick"
            chooses a free range of 65536, a number or "BASE:COUNT" gives
            one, "identity" maps them to the host's, "no" shares the host's
            (root in the container is then root on the host).
          '';
        };

        memoryMax = limit "The memory limit (--memory-max)" "2G";
        memoryHigh = limit "The memory throttling point (--memory-high)" "1536M";
        cpuQuota = limit "CPU time per CPU (--cpu-quota)" "150%";
        cpuWeight = limit "The CPU weight (--cpu-weight)" 200;
        tasksMax = limit "The most tasks (--tasks-max)" 4096;
        ioWeight = limit "The block I/O weight (--io-weight)" 200;

        extraFlags = mkOption {
          type = types.listOf types.str;
          default = d.extraFlags;
          example = [
            "--drop-capability=CAP_SYS_CHROOT"
            "--tmpfs=/var/tmp"
          ];
          description = "More flags of `containerctl run`, each as --flag=value, or --flag for a boolean.";
        };

        timeoutStartSec = mkOption {
          type = types.str;
          default = d.timeoutStartSec;
          description = "How long the container may take to be ready (systemd.time(7)) before it is killed.";
        };

        stopTimeout = mkOption {
          type = types.ints.unsigned;
          default = d.stopTimeout;
          description = ''
            Seconds the guest may take to halt before it is killed
            (--stop-timeout). The unit's TimeoutStopSec is set above it,
            so that systemd never kills containerctl before the halt ends.
          '';
        };
      };

      config.path = mkIf options.config.isDefined config.config.system.build.toplevel;
    };

  # The unit and the conf of one container.
  generated =
    name: c:
    gen.container bin name {
      inherit (c)
        root
        autoStart
        privateNetwork
        hostAddress
        localAddress
        hostBridge
        bindMounts
        privateUsers
        memoryMax
        memoryHigh
        cpuQuota
        cpuWeight
        tasksMax
        ioWeight
        extraFlags
        timeoutStartSec
        stopTimeout
        ;
      path = "${profileDir}/${name}";
      forwardPorts = map (p: { inherit (p) protocol hostPort containerPort; }) c.forwardPorts;
    };

  # A unit setting as NixOS writes it: one value, or one line per value.
  single = lib.mapAttrs (_: vs: if length vs == 1 then lib.head vs else vs);

  service =
    name: c:
    let
      g = generated name c;
      unitSettings = g.unit.Unit // {
        RequiresMountsFor = g.unit.Unit.RequiresMountsFor ++ g.extra.Unit.RequiresMountsFor;
      };
    in
    {
      unitConfig = single unitSettings;
      serviceConfig = single (g.unit.Service // g.extra.Service);
      wants = g.extra.Unit.Wants or [ ];
      after = g.extra.Unit.After or [ ];
      wantedBy = g.unit.Install.WantedBy or [ ];
      # A new system is reloaded; anything else about the container
      # changes the unit or its conf, and restarts it.
      reloadTriggers = [ c.path ];
      restartTriggers = [ config.environment.etc."containers/${name}.conf".source ];
      inherit (c) restartIfChanged;
    };

  # Every booted guest takes about 8 of the inotify instances of the host's
  # root (its systemd, journald, udevd, logind...), whose default limit is
  # 128, and containerctl refuses a boot when too few are left. That holds
  # with private users too: a user namespace's instances are charged to its
  # owner in the parent namespace as well (the kernel's ucounts). 128 for
  # the host's own, and 16 a container: twice the need, for the guests'
  # services that watch files.
  declared = builtins.length (builtins.attrNames cfg.containers);
  needInotify = 128 + 8 * declared;
  wantInotify = 128 + 16 * declared;
  inotify = config.boot.kernel.sysctl."fs.inotify.max_user_instances" or null;
in
{
  options.containerctl = {
    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = literalExpression "pkgs.callPackage ./package.nix { }";
      description = "The containerctl package.";
    };

    template = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Whether to install container@.service (`containerctl unit
        --template`), which runs any container <name> from
        /etc/containers/<name>.conf, for containers made without this
        module. nixpkgs' containers install a unit of that name too, so
        it cannot be used beside them.
      '';
    };

    containers = mkOption {
      type = types.attrsOf (types.submodule containerOpts);
      default = { };
      example = literalExpression ''
        { web = { autoStart = true; config = { services.nginx.enable = true; }; }; }
      '';
      description = ''
        NixOS systems run as containers by containerctl, each as the unit
        container-<name>.service.
      '';
    };
  };

  config = mkIf (cfg.containers != { } || cfg.template) {
    assertions =
      mapAttrsToList (name: _: {
        # runtime.ValidateName's rule.
        assertion =
          builtins.match "[a-zA-Z0-9_][a-zA-Z0-9_.-]*" name != null
          && builtins.stringLength name <= 64
          && !(builtins.elem name podmanFiles);
        message = "containerctl.containers.${name}: a container's name is at most 64 letters, digits, _ . - (. and - not first), and not one of podman's files in /etc/containers (${concatStringsSep ", " podmanFiles})";
      }) cfg.containers
      ++ mapAttrsToList (name: c: {
        # nixpkgs quietly drops them without a private network; here they
        # would ask for more than the container gets.
        assertion =
          c.privateNetwork
          || (c.hostAddress == null && c.localAddress == null && c.hostBridge == null && c.forwardPorts == [ ]);
        message = "containerctl.containers.${name}: hostAddress, localAddress, hostBridge and forwardPorts need privateNetwork = true";
      }) cfg.containers
      ++ [
        {
          assertion = !(cfg.template && (config.boot.enableContainers or false));
          message = "containerctl.template installs container@.service, which nixpkgs' containers (boot.enableContainers) install too";
        }
      ];

    warnings = lib.optional (builtins.isInt inotify && inotify < needInotify) (
      "boot.kernel.sysctl.\"fs.inotify.max_user_instances\" = ${toString inotify} leaves too few for "
      + "${toString declared} containers (want ${toString wantInotify}); containerctl refuses a boot without enough"
    );

    boot.kernel.sysctl."fs.inotify.max_user_instances" = mkDefault wantInotify;

    environment.systemPackages = [ cfg.package ];

    environment.etc = mapAttrs' (
      name: c:
      nameValuePair "containers/${name}.conf" {
        text = concatStringsSep "\n" (generated name c).conf + "\n";
      }
    ) cfg.containers;

    # Points each container's profile at its system, before
    # switch-to-configuration reloads the units (it activates first), and
    # before the units start at boot. The rename makes the switch atomic.
    system.activationScripts.containerctl-profiles = {
      deps = [ ];
      text = ''
        mkdir -p ${profileDir}
      ''
      + concatStringsSep "" (
        mapAttrsToList (name: c: ''
          ln -sfn ${c.path} ${profileDir}/.${name}.new
          mv -T ${profileDir}/.${name}.new ${profileDir}/${name}
        '') cfg.containers
      );
    };

    systemd.targets.multi-user.wants = [ "machines.target" ];

    systemd.services =
      mapAttrs' (name: c: nameValuePair "container-${name}" (service name c)) cfg.containers
      // lib.optionalAttrs cfg.template {
        "container@" =
          let
            t = (gen.template bin).unit;
          in
          {
            unitConfig = single t.Unit;
            serviceConfig = single t.Service;
            restartIfChanged = false;
          };
      };
  };
}
