package runtime

import (
	"fmt"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerctl/containerctl/runtime/userns"
)

// The annotations that carry what the spec's maps cannot: a range picked
// at start (no maps in the spec), and how the root comes to be owned.
const (
	// PrivateUsersAnnotation is "pick" for a range picked at start.
	PrivateUsersAnnotation = "org.containerctl.private-users"
	// OwnershipAnnotation is userns.Map (the default) or userns.Chown.
	OwnershipAnnotation = "org.containerctl.private-users-ownership"
)

// compileUsers reads the user namespace of a spec: a new one with one
// map, the same for users and groups, from 0 (identity or an explicit
// range), or none and the pick annotation. Anything else, and maps without
// a user namespace, is refused.
func compileUsers(s *specs.Spec) (*userns.Users, error) {
	newUser := false
	for _, ns := range s.Linux.Namespaces {
		newUser = newUser || ns.Type == specs.UserNamespace
	}
	uids, gids := s.Linux.UIDMappings, s.Linux.GIDMappings
	pick := s.Annotations[PrivateUsersAnnotation]
	own, err := userns.ParseOwnership(s.Annotations[OwnershipAnnotation])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	switch {
	case !newUser && (len(uids)+len(gids) > 0 || pick != ""):
		return nil, fmt.Errorf("%w: linux.uidMappings, gidMappings or %s without a user namespace", ErrInvalidSpec, PrivateUsersAnnotation)
	case !newUser:
		return nil, nil
	case pick != "" && pick != string(userns.Pick):
		return nil, fmt.Errorf("%w: %s %q: only %q", ErrInvalidSpec, PrivateUsersAnnotation, pick, userns.Pick)
	case pick != "" && len(uids)+len(gids) > 0:
		return nil, fmt.Errorf("%w: %s with linux.uidMappings or gidMappings", ErrInvalidSpec, PrivateUsersAnnotation)
	case pick != "":
		return &userns.Users{Mode: userns.Pick, Ownership: own}, nil
	case len(uids) != 1 || len(gids) != 1 || uids[0] != gids[0]:
		return nil, unsupported("user namespace maps other than one, the same for users and groups")
	case uids[0].ContainerID != 0:
		return nil, unsupported("a user namespace map that does not start at the container's ID 0")
	case uint64(uids[0].HostID)+uint64(uids[0].Size) > 1<<32-1 || uids[0].Size == 0:
		return nil, fmt.Errorf("%w: linux.uidMappings: %d IDs from %d do not fit", ErrInvalidSpec, uids[0].Size, uids[0].HostID)
	}
	r := userns.Range{Base: uids[0].HostID, Count: uids[0].Size}
	mode := userns.Fixed
	if r.Base == 0 {
		mode = userns.Identity
	}
	return &userns.Users{Mode: mode, Range: r, Ownership: own}, nil
}

// stageDir is the stage in the container's record directory.
func (p *Plan) stageDir() string { return filepath.Join(p.StateDir, p.Name, stageName) }

const stageName = "userns"

// usersConfig rewrites the child's mount steps for step 4.
func (p *Plan) usersConfig(c *initConfig) {
	if p.Users == nil {
		return
	}
	stage := p.stageDir()
	c.Users = true
	// The child works on the staged root, which it reaches through the
	// stage (a directory it may search) wherever the root is.
	c.Root = filepath.Join(stage, userns.RootName)
	// Only these steps bind or make devices: the cgroup steps mount
	// cgroup filesystems, which the child makes itself in its cgroup
	// namespace.
	c.Steps.Steps, _ = userns.Rewrite(p.Mounts.Steps, p.Root, stage, p.NewNetwork, p.Users.Ownership)
}
