"""trainer-ops client SDK: one live snapshot of the ops settings for an engine process.

from trainer_ops_sdk import OpsClient

ops = OpsClient("http://127.0.0.1:8080", token="tops_...", cache_path="ops-lkg.json")
ops.start()                       # snapshot now (or the last-known-good file), live updates after
ops.is_enabled("quiz_auto_generate", place="KR-0012")  # its override, else KR's, else APAC's, else global
ops.model_config["temperature"]
ops.on_reload("content", lambda ruleset: my_engine.load(ruleset))   # raise to NACK
"""

from trainer_ops_sdk.client import OpsClient, OpsUnavailable
from trainer_ops_sdk.models import Ruleset, Snapshot

__all__ = ["OpsClient", "OpsUnavailable", "Ruleset", "Snapshot"]
