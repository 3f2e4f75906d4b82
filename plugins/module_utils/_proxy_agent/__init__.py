# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Guest Proxy Agent (Metadata Security Protocol) domain (private: may change without notice).

Callers import from the submodules; this file re-exports nothing. Each file imports only the ones above it in this
list (and the base layer of module_utils):

- ``status``: pure; the agent's status from an instance view (``parse_agent_status``) and the key health table
  (``classify_health``, ``HEALTH_TABLE``), ``parse_secure_channel_state``, ``model_settings``.
- ``diagnosis``: pure; beyond the key: ``diagnose``, ``compact``, ``denied_callers``, ``model_modes``, stale status.
- ``key_record``: the key reset's record tag ``vmrescue-key-reset`` (``record_value``, ``parse_record``).
- ``settings_record``: the endpoint settings' normal form and the tag ``vmrescue-msp-previous`` (``normalize``,
  ``encode_record``, ``decode_record``, ``record_of``).
- ``reads``: ARM reads of the agent's status: ``read_key_latch_status`` (the lookup), ``agent_status_steps`` (the
  confirmation probe of the key reset and the endpoint modes).
- ``key_reset``: module proxy_agent_key_reset (decide, write, confirm; ``run``, ``run_steps``, ``task_spec``).
- ``endpoint_options``: the options of module proxy_agent_settings and ``validate``.
- ``endpoint_modes``: module proxy_agent_settings, break-glass and restore (``run``, ``run_steps``, ``task_spec``).
"""
