"""ksef-auth-cloud: credential sources for applications on cloud platforms.

* ``paas`` (:class:`PaasToken`): a KSeF token from the platform's variables, ``KSEFPL_API_TOKEN``
  or ``KSEF2_TOKEN`` by default, in the environment or in Platform.sh/Upsun's
  ``PLATFORM_VARIABLES`` (Adobe Commerce Cloud's ``MAGENTO_CLOUD_VARIABLES``).
* ``aws-secrets-manager`` (:class:`AwsSecretsManagerToken`): from AWS Secrets Manager.
* ``aws-ssm`` (:class:`AwsSsmToken`): from an AWS SSM Parameter Store ``SecureString``.

Each returns a :class:`~ksef_auth.KsefToken` (or a :class:`~ksef_auth.SharedSecret` with
``kind = "shared-secret"``), raises :class:`~ksef_auth.NotAvailable` when it has nothing here so a
chain moves on, and keeps nothing: every login reads the value again. boto3 loads only when an
AWS source loads.
"""

from __future__ import annotations

from ksef_auth import Register, hookimpl
from ksef_auth_cloud.paas import PaasToken
from ksef_auth_cloud.secrets_manager import AwsSecretsManagerToken
from ksef_auth_cloud.ssm import AwsSsmToken

__all__ = ["AwsSecretsManagerToken", "AwsSsmToken", "PaasToken"]


@hookimpl
def ksef_auth_register_credential_sources(register: Register) -> None:
    register("paas", PaasToken)
    register("aws-secrets-manager", AwsSecretsManagerToken)
    register("aws-ssm", AwsSsmToken)
