# The pure part of the NixOS module (module.nix): from one container's
# options to the unit that runs it and to its settings file. Written with
# builtins only, so that CI evaluates it with nix-instantiate alone, without
# nixpkgs, and compares it with what `containerctl unit` prints for the same
# options (nixos_test.go).
#
#   let u = import ./unit.nix; in
#   u.container "/nix/store/...-containerctl/bin/containerctl" "foo" { ... }
#
# gives
#   flags  the run flags, in the order containerctl prints them (by name)
#   unit   { Unit = { KEY = [ VALUE ... ]; ... }; Service = ...; Install = ...; }:
#          exactly what `containerctl unit foo FLAGS` prints
#   extra  what the module adds to it, in the same shape: TimeoutStartSec,
#          RequiresMountsFor of the bind mounts' sources, and, when it starts
#          at boot, Wants/After network.target (as nixpkgs' containers)
#   conf   the lines of /etc/containers/foo.conf, in NixOS's env-file style
#
# and u.template BIN is container@.service, as `containerctl unit --template`.
let
  inherit (builtins)
    attrNames attrValues concatLists concatStringsSep elem filter
    foldl' hasAttr isInt map match replaceStrings
    toString;

  # The options' defaults; module.nix declares its options with them.
  defaults = {
    path = null; # the system profile (--path); containerctl's default when null
    root = null; # the container's root (--root); /var/lib/containers/NAME when null
    autoStart = false;
    privateNetwork = false;
    hostAddress = null;
    localAddress = null;
    hostBridge = null;
    forwardPorts = [ ]; # [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ]
    bindMounts = { }; # { "/mnt" = { hostPath = "/srv"; mountPoint = "/mnt"; isReadOnly = true; }; }
    privateUsers = "pick"; # "pick", "no", "identity", a base UID, or "BASE:COUNT"
    memoryMax = null;
    memoryHigh = null;
    cpuQuota = null;
    cpuWeight = null;
    tasksMax = null;
    ioWeight = null;
    extraFlags = [ ]; # run flags, each as --flag=value or --flag (a boolean)
    timeoutStartSec = "1min";
    stopTimeout = 180; # seconds: containerctl's --stop-timeout default
  };

  # containerctl's own defaults, which its unit is written against.
  defaultRootDir = "/var/lib/containers";
  # systemd waits this much beyond the halt's own timeout before it kills
  # containerctl (cmd/containerctl/unit.go, stopMargin).
  stopMargin = 15;

  # The run flags that may be given more than once (StringArray in
  # cmd/containerctl/cli.go); any other flag set twice is an error here,
  # where containerctl would quietly keep the last.
  repeatable = [ "bind" "bind-ro" "tmpfs" "setenv" "capability" "drop-capability" "port" ];

  # The flags NAME.conf has a key of its own for; the rest go in EXTRA_FLAGS.
  keyed = [
    "path" "root" "private-network" "network-veth" "host-address" "local-address"
    "network-bridge" "port" "private-users"
  ];

  # systemdQuote and execLine as cmd/containerctl/unit.go: % and $ escaped
  # (systemd.unit(5), "Specifiers"), and the argument double-quoted when it
  # holds a space, a tab, a newline, a quote, a backslash or a semicolon
  # (systemd.service(5), "Command lines").
  specials = [ " " "\t" "\n" "\"" "'" "\\" ";" ];
  hasSpecial = s: replaceStrings specials (map (_: "") specials) s != s;
  systemdQuote = a:
    let e = replaceStrings [ "%" "$" ] [ "%%" "$$" ] a;
    in
    if e != "" && !hasSpecial e then e
    else "\"" + replaceStrings [ "\\" "\"" "\n" "\t" ] [ "\\\\" "\\\"" "\\n" "\\t" ] e + "\"";
  execLine = args: concatStringsSep " " (map systemdQuote args);
  # pathQuote is a path as RequiresMountsFor= reads it: % escaped, not $.
  pathQuote = a:
    let e = replaceStrings [ "%" ] [ "%%" ] a;
    in
    if e != "" && !hasSpecial e then e
    else "\"" + replaceStrings [ "\\" "\"" "\n" "\t" ] [ "\\\\" "\\\"" "\\n" "\\t" ] e + "\"";

  # goDuration is Go's time.Duration.String() of whole seconds, as
  # containerctl prints --stop-timeout: 45s, 1m30s, 3m0s, 1h0m0s.
  goDuration = s:
    let
      h = s / 3600;
      m = (s - h * 3600) / 60;
      sec = s - h * 3600 - m * 60;
    in
    if h > 0 then "${toString h}h${toString m}m${toString sec}s"
    else if m > 0 then "${toString m}m${toString sec}s"
    else "${toString sec}s";

  optional = cond: x: if cond then [ x ] else [ ];
  optionalFlag = name: v: optional (v != null) { inherit name; value = toString v; };

  # parseFlag turns one of extraFlags into { name; value; }.
  parseFlag = f:
    let m = match "--([a-z0-9][a-z0-9-]*)(=(.*))?" f;
    in
    if m == null then
      throw "extraFlags: ${f}: want --flag=value, or --flag for a boolean (one flag per item)"
    else {
      name = builtins.elemAt m 0;
      value = if builtins.elemAt m 1 == null then "true" else builtins.elemAt m 2;
    };

  # Under private users a bind is idmapped (":idmap", as nixpkgs adds it),
  # so that the guest sees the host's owners; a writable one without it
  # would show them as nobody.
  bindFlag = privateUsers: b:
    let src = if b.hostPath or null != null then b.hostPath else b.mountPoint;
    in {
      name = if b.isReadOnly or true then "bind-ro" else "bind";
      value = if privateUsers != "no" then "${src}:${b.mountPoint}:idmap"
        else if b.hostPath or null != null then "${b.hostPath}:${b.mountPoint}" else b.mountPoint;
    };

  portString = p:
    let
      host = toString p.hostPort;
      inner = if p.containerPort or null == null then host else toString p.containerPort;
    in
    "${p.protocol or "tcp"}:${host}:${inner}";

  # The flags of one container, as { name; value; } in the order given.
  flagList = o:
    let
      veth = o.hostAddress != null || o.localAddress != null;
      privateUsers = toString o.privateUsers;
    in
    optionalFlag "path" o.path
    ++ optionalFlag "root" o.root
    ++ optional o.privateNetwork { name = "private-network"; value = "true"; }
    ++ optional (veth && o.hostBridge == null) { name = "network-veth"; value = "true"; }
    ++ optionalFlag "host-address" o.hostAddress
    ++ optionalFlag "local-address" o.localAddress
    ++ optionalFlag "network-bridge" o.hostBridge
    ++ map (p: { name = "port"; value = portString p; }) o.forwardPorts
    # Always given: "no" too, since unit and create default to pick.
    ++ [ { name = "private-users"; value = privateUsers; } ]
    ++ map (bindFlag privateUsers) (attrValues o.bindMounts)
    ++ optionalFlag "memory-max" o.memoryMax
    ++ optionalFlag "memory-high" o.memoryHigh
    ++ optionalFlag "cpu-quota" o.cpuQuota
    ++ optionalFlag "cpu-weight" o.cpuWeight
    ++ optionalFlag "tasks-max" o.tasksMax
    ++ optionalFlag "io-weight" o.ioWeight
    ++ [{ name = "stop-timeout"; value = goDuration o.stopTimeout; }]
    ++ map parseFlag o.extraFlags;

  # byName groups the flags by name, refusing a flag set twice that cannot
  # be; attrNames then lists them sorted, as pflag's Visit does.
  byName = flags:
    foldl'
      (acc: f:
        if hasAttr f.name acc && !(elem f.name repeatable) then
          throw "containerctl: --${f.name} is set twice (${acc.${f.name}.head} and ${f.value}): it takes one value"
        else acc // {
          ${f.name} = {
            head = acc.${f.name}.head or f.value;
            values = (acc.${f.name}.values or [ ]) ++ [ f.value ];
          };
        })
      { }
      flags;

  render = grouped: names:
    concatLists (map (n: map (v: "--${n}=${v}") grouped.${n}.values) names);

  # unitOf is cmd/containerctl/unit.go's unitOptions, section by section.
  unitOf = { bin, name, root, runArgs, stopTimeout, autoStart }: {
    Unit = {
      Description = [ "Container '${name}'" ];
      Documentation = [ "man:systemd-nspawn(1)" ];
      RequiresMountsFor = [ root ];
    };
    Service = {
      Type = [ "notify" ];
      NotifyAccess = [ "main" ];
      ExecStart = [ (execLine [ bin "run" ] + " ${name} " + execLine ([ "--notify-ready" ] ++ runArgs)) ];
      ExecReload = [ (execLine [ bin "reload" ] + " ${name}") ];
      KillMode = [ "mixed" ];
      KillSignal = [ "SIGTERM" ];
      TimeoutStopSec = [ "${toString (stopTimeout + stopMargin)}s" ];
      Delegate = [ "yes" ];
      Slice = [ "machine.slice" ];
      Restart = [ "on-failure" ];
      RestartForceExitStatus = [ "133" ];
      SuccessExitStatus = [ "133" ];
    };
  } // (if autoStart then { Install.WantedBy = [ "machines.target" ]; } else { });

  checkStopTimeout = s:
    if isInt s && s >= 0 then s
    else throw "stopTimeout: ${toString s}: want a whole number of seconds, 0 or more";

  container = bin: name: options:
    let
      given = defaults // options;
      o = given // { stopTimeout = checkStopTimeout given.stopTimeout; };
      inherit (o) stopTimeout;
      grouped = byName (flagList o);
      names = attrNames grouped;
      flags = render grouped names;
      extraNames = filter (n: !(elem n keyed)) names;
      extraFlags = render grouped extraNames;
      spaced = filter hasSpecial extraFlags;
      root = if o.root != null then o.root else "${defaultRootDir}/${name}";
      bindSources = map (b: if b.hostPath or null != null then b.hostPath else b.mountPoint) (attrValues o.bindMounts);
      ports = map portString o.forwardPorts;
      line = key: v: optional (v != null) "${key}=${toString v}";
    in
    {
      inherit flags;
      unit = unitOf {
        inherit bin stopTimeout;
        inherit (o) autoStart;
        name = systemdQuote name;
        root = pathQuote root;
        runArgs = flags;
      };
      extra = {
        Unit = {
          RequiresMountsFor = map pathQuote bindSources;
        } // (if o.autoStart then { Wants = [ "network.target" ]; After = [ "network.target" ]; } else { });
        Service.TimeoutStartSec = [ o.timeoutStartSec ];
      };
      # NAME.conf: the keys NixOS's container@.service reads, with
      # containerctl's ROOT; what has no key of its own goes in
      # EXTRA_FLAGS, which containerctl splits at spaces.
      conf =
        if spaced != [ ] then
          throw "${name}: ${concatStringsSep ", " spaced}: EXTRA_FLAGS of ${name}.conf is split at spaces, so no flag in it may hold one"
        else
          line "SYSTEM_PATH" o.path
          ++ line "ROOT" o.root
          ++ optional o.privateNetwork "PRIVATE_NETWORK=1"
          ++ line "HOST_BRIDGE" o.hostBridge
          ++ optional (ports != [ ]) "HOST_PORT=${concatStringsSep "," ports}"
          ++ line "HOST_ADDRESS" o.hostAddress
          ++ line "LOCAL_ADDRESS" o.localAddress
          ++ [ "PRIVATE_USERS=${toString o.privateUsers}" ]
          ++ [ "EXTRA_FLAGS=\"${concatStringsSep " " extraFlags}\"" ];
    };

  # container@.service: any NAME (%i), its settings in /etc/containers/%i.conf.
  template = bin: {
    unit = unitOf {
      inherit bin;
      name = "%i";
      root = pathQuote defaultRootDir + "/%i";
      runArgs = [ ];
      stopTimeout = defaults.stopTimeout;
      autoStart = false;
    };
  };
in
{
  inherit defaults container template systemdQuote goDuration;
}
