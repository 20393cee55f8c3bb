package action

import (
	"encoding/json"
	"fmt"
	"os"
)

// pullRequestEvent is the part of a pull_request event payload we need.
type pullRequestEvent struct {
	Number      int `json:"number"`
	PullRequest *struct {
		Number int `json:"number"`
		Head   struct {
			Repo struct {
				FullName string `json:"full_name"`
			} `json:"repo"`
		} `json:"head"`
		Base struct {
			Repo struct {
				FullName string `json:"full_name"`
			} `json:"repo"`
		} `json:"base"`
	} `json:"pull_request"`
}

// isPREvent reports whether the workflow was triggered by a pull request.
func isPREvent(name string) bool {
	return name == "pull_request" || name == "pull_request_target"
}

// prInfo is the pull request that triggered the run.
type prInfo struct {
	Number int
	Fork   bool // head repository differs from the base repository
}

// readPR reads the PR number from the event payload file.
func readPR(path string) (prInfo, error) {
	if path == "" {
		return prInfo{}, fmt.Errorf("GITHUB_EVENT_PATH is not set")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return prInfo{}, fmt.Errorf("reading event payload: %w", err)
	}
	var ev pullRequestEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return prInfo{}, fmt.Errorf("parsing event payload %s: %w", path, err)
	}
	pr := prInfo{Number: ev.Number}
	if ev.PullRequest != nil {
		if ev.PullRequest.Number != 0 {
			pr.Number = ev.PullRequest.Number
		}
		h, b := ev.PullRequest.Head.Repo.FullName, ev.PullRequest.Base.Repo.FullName
		pr.Fork = h != "" && b != "" && h != b
	}
	if pr.Number <= 0 {
		return prInfo{}, fmt.Errorf("event payload %s has no pull request number", path)
	}
	return pr, nil
}
