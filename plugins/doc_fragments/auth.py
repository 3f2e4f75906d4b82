# Copyright: vmrescue.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Authentication options shared by every vmrescue.azure module (DOCUMENTATION) and lookup (PLUGINS)."""

from __future__ import annotations


class ModuleDocFragment:
    # Modules: options come from the task (and module_defaults for the group vmrescue.azure.azure);
    # the environment variables below are read by the shared auth code, in the same order for modules and lookups.
    DOCUMENTATION = r"""
options:
  auth_source:
    description:
      - Where to take credentials from. Compatible with C(azure.azcollection).
      - V(auto) (the default) tries these sources in this order and uses the first one that is configured.
      - 1. options C(client_id) + C(secret) + C(tenant) (service principal), C(client_id) + C(x509_certificate_path)
        + C(tenant) (certificate), C(ad_user) + C(password) (user).
      - 2. the O(profile) option (a section of C(~/.azure/credentials)).
      - 3. environment variables C(AZURE_CLIENT_ID) + C(AZURE_SECRET) or C(AZURE_CLIENT_SECRET) + C(AZURE_TENANT) or
        C(AZURE_TENANT_ID) (as AWX injects them); C(AZURE_CLIENT_ID) + C(AZURE_CLIENT_CERTIFICATE_PATH);
        C(AZURE_AD_USER) + C(AZURE_PASSWORD); C(AZURE_CLIENT_ID) + C(AZURE_FEDERATED_TOKEN_FILE) (workload identity);
        C(AZURE_PROFILE) (a profile).
      - 4. the C([default]) section of C(~/.azure/credentials), when that file exists.
      - 5. the Azure CLI login (C(az login)), when C(az) is on E(PATH).
      - 6. managed identity (O(client_id) or C(AZURE_CLIENT_ID) selects a user-assigned identity).
      - V(env) uses only step 3, V(credential_file) only a profile (O(profile), C(AZURE_PROFILE), else C(default)),
        V(cli) only the Azure CLI, V(msi) only managed identity.
      - Can also be set with the E(ANSIBLE_AZURE_AUTH_SOURCE) environment variable.
    type: str
    choices: [auto, cli, env, credential_file, msi]
  profile:
    description:
      - Section of C(~/.azure/credentials) to use (keys C(subscription_id), C(client_id), C(secret), C(tenant), C(ad_user),
        C(password), C(cloud_environment), C(cert_validation_mode), C(adfs_authority_url)).
    type: str
  subscription_id:
    description:
      - Default subscription, used for targets given by name. A O(vm_id) carries its own subscription.
      - Falls back to E(AZURE_SUBSCRIPTION_ID), then the profile's C(subscription_id); with Azure CLI sign-in, to
        C(az account show) (run only when needed).
    type: str
  client_id:
    description:
      - Service principal (application) ID, or the client ID of a user-assigned managed identity. Env E(AZURE_CLIENT_ID).
    type: str
  secret:
    description:
      - Service principal secret. Env E(AZURE_SECRET) or E(AZURE_CLIENT_SECRET). Never logged.
      - Give it from a variable or Ansible Vault, never written inline in the task. ansible-core 2.19 prints the
        first source lines of a failing task (its Origin) even with C(no_log); the collection's own actions and
        lookups have them replaced by a note that the content is redacted, but a task that fails before the
        collection's code runs (for example an undefined variable in its arguments) still shows them.
    type: str
  tenant:
    description:
      - Entra ID tenant ID. Env E(AZURE_TENANT) or E(AZURE_TENANT_ID).
    type: str
  ad_user:
    description:
      - User name for user + password sign-in (no MFA). Env E(AZURE_AD_USER).
    type: str
  password:
    description:
      - Password for O(ad_user). Env E(AZURE_PASSWORD). Never logged.
    type: str
  cloud_environment:
    description:
      - V(AzureCloud) (default), V(AzureChinaCloud), V(AzureUSGovernment), or a URL. A URL is the cloud's Resource
        Manager endpoint (V(https://management.local.azurestack.external), with or without a trailing slash), to which
        C(/metadata/endpoints?api-version=2022-09-01) is appended as azure.azcollection (msrestazure) and the Azure CLI
        do, or the full metadata URL (V(https://management.example/metadata/endpoints?api-version=2022-09-01)). From
        the metadata C(resourceManager), C(authentication.loginEndpoint) and C(authentication.audiences[0]) are used.
        The URL is fetched honouring E(REQUESTS_CA_BUNDLE).
      - Env E(AZURE_CLOUD_ENVIRONMENT).
    type: str
  cert_validation_mode:
    description:
      - V(ignore) disables TLS certificate validation (for test endpoints only). Env E(AZURE_CERT_VALIDATION_MODE).
        Every task, lookup and inventory run that uses it shows a warning, because Entra ID receives the client secret.
      - Default V(validate). To trust a private CA, set E(REQUESTS_CA_BUNDLE) instead.
    type: str
    choices: [validate, ignore]
  adfs_authority_url:
    description:
      - Authority to sign in with instead of the cloud's login endpoint (ADFS, Azure Stack). Env E(AZURE_ADFS_AUTHORITY_URL).
    type: str
  x509_certificate_path:
    description:
      - PEM file with the service principal's certificate and private key (certificate sign-in with O(client_id) and O(tenant)).
    type: path
  thumbprint:
    description:
      - Accepted for compatibility with azure.azcollection; the thumbprint is computed from O(x509_certificate_path).
    type: str
  disable_instance_discovery:
    description:
      - Skip Entra ID instance discovery (needed for private clouds and Azure Stack). Env E(AZURE_DISABLE_INSTANCE_DISCOVERY).
      - Default is V(true) when the authority is not one of the public Azure clouds' login hosts, else V(false).
    type: bool
  token_cache:
    description:
      - Share Entra ID access tokens between the tasks and Ansible worker processes of this user, so that a playbook
        run asks Entra ID for one token per credential instead of one per host and task.
      - Uses azure-identity's persistent token cache named C(vmrescue.azure) in C(~/.IdentityService) (the platform's
        encrypted store when libsecret is usable, else a file created with mode C(0600) in a directory kept at
        C(0700); the cache is not used when that directory belongs to another user). Only service principal
        (secret, certificate), user and workload identity sign-in use it; the Azure CLI and managed identity have
        their own.
      - Set V(false) (or env E(VMRESCUE_AZURE_TOKEN_CACHE=false)) to keep tokens in memory only.
      - Default V(true).
    type: bool
  allow_unencrypted_cloud_metadata:
    description:
      - Accept a plain C(http://) URL in O(cloud_environment). The cloud metadata decides where the client secret and
        the tokens are sent, so without this option such a URL is refused before anything is sent.
      - Env E(VMRESCUE_AZURE_ALLOW_UNENCRYPTED_CLOUD_METADATA). Default V(false).
    type: bool
notes:
  - Secrets (O(secret), O(password)) are C(no_log) and never appear in results, warnings or error messages.
  - "Secrets belong in variables or Ansible Vault (for example C(password: \"{{ vault_vm_password }}\")), not
    written inline in the task, in a flow-style task or in an ad-hoc C(-a) argument; ansible-core shows the first
    source lines of a failing task (its Origin) whatever C(no_log) says."
  - Every option is checked before any call to Azure, and refused with a message naming it. A value must have the
    option's type as written, a list, dictionary, number or boolean given for a string option is refused rather
    than turned into its text (quote numbers such as a version, V("1.5")), and a boolean accepts only true/false
    words (V(maybe) is refused). O(tenant) must be a tenant ID or domain name, O(client_id) and O(subscription_id)
    GUIDs, and O(x509_certificate_path) a PEM file with the certificate and its private key (or PKCS12 without a
    password); errors of azure-identity are reported naming the option.
  - Only the azure-identity credential class that is used is imported.
requirements:
  - azure-identity >= 1.15.0
  - azure-mgmt-core >= 1.4.0
"""

    # Lookups/plugins: the same options with env and vars sources declared (the shared auth code reads the same
    # environment variables again, so both routes agree).
    PLUGINS = r"""
options:
  auth_source:
    description:
      - Where to take credentials from; see the modules' O(auth_source) for the order V(auto) tries
        (options, O(profile), environment, C(~/.azure/credentials) default profile, Azure CLI, managed identity).
    type: str
    choices: [auto, cli, env, credential_file, msi]
    env:
      - name: ANSIBLE_AZURE_AUTH_SOURCE
    vars:
      - name: azure_auth_source
  profile:
    description: Section of C(~/.azure/credentials) to use (E(AZURE_PROFILE) is read in step 3 of the order).
    type: str
    vars:
      - name: azure_profile
  subscription_id:
    description: Default subscription for targets given by name (a resource ID carries its own).
    type: str
    env:
      - name: AZURE_SUBSCRIPTION_ID
    vars:
      - name: azure_subscription_id
  client_id:
    description: Service principal (application) ID, or the client ID of a user-assigned managed identity.
    type: str
    env:
      - name: AZURE_CLIENT_ID
    vars:
      - name: azure_client_id
  secret:
    description: Service principal secret. Never logged.
    type: str
    env:
      - name: AZURE_SECRET
      - name: AZURE_CLIENT_SECRET
    vars:
      - name: azure_secret
  tenant:
    description: Entra ID tenant ID.
    type: str
    env:
      - name: AZURE_TENANT
      - name: AZURE_TENANT_ID
    vars:
      - name: azure_tenant
  ad_user:
    description: User name for user + password sign-in.
    type: str
    env:
      - name: AZURE_AD_USER
    vars:
      - name: azure_ad_user
  password:
    description: Password for O(ad_user). Never logged.
    type: str
    env:
      - name: AZURE_PASSWORD
    vars:
      - name: azure_password
  cloud_environment:
    description: Cloud name (V(AzureCloud), V(AzureChinaCloud), V(AzureUSGovernment)), the Resource Manager endpoint
      URL (C(/metadata/endpoints?api-version=...) is appended) or the full metadata endpoint URL.
    type: str
    env:
      - name: AZURE_CLOUD_ENVIRONMENT
    vars:
      - name: azure_cloud_environment
  cert_validation_mode:
    description: V(ignore) disables TLS certificate validation (test endpoints only).
    type: str
    choices: [validate, ignore]
    env:
      - name: AZURE_CERT_VALIDATION_MODE
  adfs_authority_url:
    description: Authority to sign in with instead of the cloud's login endpoint.
    type: str
    env:
      - name: AZURE_ADFS_AUTHORITY_URL
  x509_certificate_path:
    description: PEM certificate + key for certificate sign-in.
    type: path
  thumbprint:
    description: Accepted for compatibility; computed from O(x509_certificate_path).
    type: str
  disable_instance_discovery:
    description: Skip Entra ID instance discovery; default V(true) for non-public authorities.
    type: bool
    env:
      - name: AZURE_DISABLE_INSTANCE_DISCOVERY
  token_cache:
    description: Share access tokens between processes of this user (see the modules' O(token_cache)); default V(true).
    type: bool
    env:
      - name: VMRESCUE_AZURE_TOKEN_CACHE
  allow_unencrypted_cloud_metadata:
    description:
      - Accept a plain C(http://) URL in O(cloud_environment), which is refused otherwise because the metadata
        decides where the secret and tokens are sent.
    type: bool
    env:
      - name: VMRESCUE_AZURE_ALLOW_UNENCRYPTED_CLOUD_METADATA
notes:
  - Secrets are never logged or returned. Give them from variables, the environment or Ansible Vault, not written
    inline.
  - Option values are checked as written, before anything is read from Azure, booleans strictly (V(maybe) is
    refused), strings only where strings are meant, O(tenant) a tenant ID or domain, O(client_id) and
    O(subscription_id) GUIDs.
requirements:
  - azure-identity >= 1.15.0
  - azure-mgmt-core >= 1.4.0
"""
