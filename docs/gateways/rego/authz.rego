# A Rego policy for monban's /forward_auth (evaluated in-process with
# regorus). monban asks for data.monban.authz.allow; `reason` is told to the
# caller when the answer is no.
package monban.authz

default allow := false

# Everyone may read their own profile: GET /users/<their subject>.
allow if {
	input.method == "GET"
	input.path == ["users", input.subject]
}

# Support staff may read every profile.
allow if {
	input.method == "GET"
	input.path[0] == "users"
	"support" in input.groups
}

# Changing a profile needs the users:write scope, and never on someone
# else's behalf unless you are in the admin group.
allow if {
	input.method in {"PUT", "PATCH"}
	"users:write" in input.scopes
	input.path == ["users", input.subject]
}

allow if {
	input.method in {"PUT", "PATCH", "DELETE"}
	"admin" in input.groups
}

reason := "only your own profile, unless you are support staff" if {
	input.path[0] == "users"
	not allow
}
