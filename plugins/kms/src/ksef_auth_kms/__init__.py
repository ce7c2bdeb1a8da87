"""ksef-auth-kms: keys that never leave AWS KMS.

* credential source ``aws-kms`` (:class:`KmsSource`): a certificate (from a file, a variable or
  an SSM parameter) and the KMS asymmetric key that signs for it, for the ``xades`` signer;
* key store ``aws-kms`` (:class:`KmsKeyStore`): a new ``ECC_NIST_P256`` or ``RSA_2048`` signing
  key created in KMS for a KSeF-certificate enrollment, and the issued certificate kept in a
  folder or an SSM parameter.

Region and credentials come from the usual AWS settings, found as ksef-auth-cloud finds them
(no slow metadata probe off EC2). boto3 is imported only when a key is used.
"""

from __future__ import annotations

from ksef_auth import Register, hookimpl
from ksef_auth_kms.key import KmsKey
from ksef_auth_kms.keystore import KmsKeyStore
from ksef_auth_kms.source import KmsSource

__all__ = ["KmsKey", "KmsKeyStore", "KmsSource"]


@hookimpl
def ksef_auth_register_credential_sources(register: Register) -> None:
    register("aws-kms", KmsSource)


@hookimpl
def ksef_auth_register_key_stores(register: Register) -> None:
    register("aws-kms", KmsKeyStore)
