package hitlog

import (
	"fmt"
	"strings"
	"time"
)

// record maps an event onto the ECS field layout. It is the reference
// for appendLine: encoding/json of a record, HTML escaping off, is what a
// line must be.
func (l *Logger) record(e Event) record {
	network := "ipv4"
	if e.Client.Addr().Is6() {
		network = "ipv6"
	}
	group := e.Group
	if group == "" {
		group = "default"
	}
	ecsKind := "event"
	if e.Kind == KindBypass {
		ecsKind = "alert" // ECS: a policy violation someone should look at
	}
	r := record{
		Timestamp: e.Time.UTC().Format(timeFormat),
		ECS:       ecs{Version: ecsVersion},
		Event: event{
			Kind: ecsKind, Category: []string{"network"}, Type: []string{"denied"},
			Action: e.Action, Dataset: "dijk.hits", Module: "dijk",
		},
		Network:  netw{Transport: e.Transport, Protocol: "dns", Type: network},
		Observer: observer{Product: "dijk", Type: "dns", Hostname: l.hostname, Version: l.version},
		DNS: dnsField{
			ID: e.QueryID, Type: "query",
			Question:     question{Name: strings.TrimSuffix(e.Name, "."), Type: e.Type, Class: e.Class},
			ResponseCode: e.Rcode,
		},
		Dijk: dijkField{Group: group},
	}
	ip, withPort := l.anon.client(e.Client)
	r.Client.IP = ip
	if withPort {
		port := e.Client.Port()
		r.Client.Port = &port
	}
	if l.dataset == DatasetQueries {
		r.Event.Dataset = "dijk.queries"
		r.Event.Action = e.Outcome
		r.Event.Type = refEventType(e.Outcome)
		r.Dijk.Action = e.Action // the sinkhole answer, when blocked
	}
	if l.dataset == DatasetHits || e.Rule != "" {
		kind := e.Kind
		if kind == "" {
			kind = KindBlock
		}
		match := "suffix"
		if e.Exact {
			match = "exact"
		}
		r.Rule = &rule{Name: e.Rule, Ruleset: e.Source, ID: fmt.Sprintf("%s:%d", e.Source, e.Line)}
		r.Dijk.Kind, r.Dijk.List, r.Dijk.ListVersion = kind, e.Source, e.ListVersion
		if !e.ListLoaded.IsZero() {
			r.Dijk.ListLoaded = e.ListLoaded.UTC().Format(time.RFC3339)
		}
		r.Dijk.Entry, r.Dijk.Match, r.Dijk.Line, r.Dijk.Via = e.Rule, match, e.Line, e.Via
	}
	return r
}

// refEventType is ECS event.type for a query log line: denied for queries the
// policy or access control refused, allowed otherwise, plus error when the
// answer was a failure.
func refEventType(outcome string) []string {
	switch outcome {
	case OutcomeBlocked, OutcomeRefused:
		return []string{"denied"}
	case OutcomeError:
		return []string{"allowed", "error"}
	}
	return []string{"allowed"}
}

type record struct {
	Timestamp string    `json:"@timestamp"`
	ECS       ecs       `json:"ecs"`
	Event     event     `json:"event"`
	Client    client    `json:"client"`
	Network   netw      `json:"network"`
	Observer  observer  `json:"observer"`
	DNS       dnsField  `json:"dns"`
	Rule      *rule     `json:"rule,omitempty"` // nil: an allowed query in the query log
	Dijk      dijkField `json:"dijk"`
}

type ecs struct {
	Version string `json:"version"`
}

type event struct {
	Kind     string   `json:"kind"`
	Category []string `json:"category"`
	Type     []string `json:"type"`
	Action   string   `json:"action"`
	Dataset  string   `json:"dataset"`
	Module   string   `json:"module"`
}

type client struct {
	IP   string  `json:"ip"`
	Port *uint16 `json:"port,omitempty"` // nil when the address is truncated or hashed
}

type netw struct {
	Transport string `json:"transport"`
	Protocol  string `json:"protocol"`
	Type      string `json:"type"`
}

type observer struct {
	Product  string `json:"product"`
	Type     string `json:"type"`
	Hostname string `json:"hostname,omitempty"`
	Version  string `json:"version,omitempty"`
}

type dnsField struct {
	ID           uint16   `json:"id"`
	Type         string   `json:"type"`
	Question     question `json:"question"`
	ResponseCode string   `json:"response_code"`
}

type question struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Class string `json:"class"`
}

type rule struct {
	Name    string `json:"name"`
	Ruleset string `json:"ruleset"`
	ID      string `json:"id"`
}

// dijkField holds Dijk's own fields. The rule fields are empty, and so
// left out, for query log lines of queries no rule matched.
type dijkField struct {
	Kind        string `json:"kind,omitempty"`
	Group       string `json:"group"`
	Action      string `json:"action,omitempty"` // query log only: the sinkhole answer
	List        string `json:"list,omitempty"`
	ListVersion string `json:"list_version,omitempty"`
	ListLoaded  string `json:"list_loaded,omitempty"`
	Entry       string `json:"entry,omitempty"`
	Match       string `json:"match,omitempty"`
	Line        int    `json:"line,omitempty"`
	Via         string `json:"via,omitempty"` // the CNAME chain member that matched
}
