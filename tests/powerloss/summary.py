"""What the crash states of a run showed, counted (tests/powerloss/replay.py's results)."""

from collections import Counter


class Summary:
    def __init__(self, results):
        self.states = len(results)
        self.where = Counter(r.state.where for r in results)
        self.modes = Counter(r.state.mode for r in results)
        self.integrity_failed = [r for r in results if r.integrity != "ok"]
        self.lost_acked_states = [r for r in results if r.lost_acked]
        self.lost_synced_states = [r for r in results if r.lost_synced]
        # The end of the log is always a crash point: its list is every user answered 2xx.
        self.users = max((r.acked for r in results), default=0)
        self.acked_checks = sum(r.acked for r in results)
        self.synced_checks = sum(r.synced for r in results)
        self.most_lost = max((r.lost_acked for r in results), default=0)

    def counts(self):
        return (f"{self.states} crash states ({self.where['sync']} at syncs, "
                f"{self.where['between']} between, {self.where['end']} at the end; "
                f"{self.modes['worst']} worst case, {self.modes['random']} random with torn "
                f"writes), {self.users} users answered 2xx, "
                f"{self.acked_checks} acknowledged-user checks, "
                f"{self.synced_checks} synced-user checks")

    def outcome(self):
        return (f"integrity failed in {len(self.integrity_failed)}, acknowledged users lost "
                f"in {len(self.lost_acked_states)} (at most {self.most_lost} in one), "
                f"synced users lost in {len(self.lost_synced_states)}")

    def examples(self, n=3):
        """A few failing states, to show what went wrong where."""
        bad = self.integrity_failed[:n] + self.lost_acked_states[:n]
        return [f"  point {r.state.point} ({r.state.where}, {r.state.mode}): integrity "
                f"{r.integrity.splitlines()[0][:80]}, {r.lost_acked} of {r.acked} acknowledged "
                f"lost (e.g. {', '.join(r.lost_names)}), {r.lost_synced} of {r.synced} "
                f"synced lost" for r in bad]

    def text(self):
        return "\n".join([self.counts(), self.outcome(), *self.examples()])
