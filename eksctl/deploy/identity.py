"""`make identity`: the Amazon Cognito user pool whose ID tokens sign shoppers in, its app
client (the store's page: a public client, the authorization code flow with PKCE) and its
hosted sign-in domain. Found by name and reused, so a second run changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deploy.steps import DeployError, Steps

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

POOL_NAME = "emporium"
CLIENT_NAME = "emporium-ui"
# Where the page comes back after sign-in (`${location.origin}/`, services/ui/static/js/session.js):
# `make run`'s store until `make deploy` adds API Gateway's address.
LOCAL_CALLBACK = "http://localhost:8080/"


@dataclass(frozen=True)
class Identity:
    region: str
    pool_id: str
    client_id: str
    domain: str

    @property
    def issuer(self) -> str:
        """The tokens' `iss` (orders' ORDERS_OIDC_ISSUER, API Gateway's JWT authorizer)."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    @property
    def audience(self) -> str:
        """The ID tokens' `aud`: the app client's id."""
        return self.client_id

    @property
    def hosted_ui(self) -> str:
        return f"https://{self.domain}.auth.{self.region}.amazoncognito.com"

    @property
    def authorize_url(self) -> str:
        return f"{self.hosted_ui}/oauth2/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.hosted_ui}/oauth2/token"


def client_settings(callbacks: list[str]) -> dict[str, Any]:
    """The app client's settings, the same at creation and at every update (an update resets
    what it does not name)."""
    return {
        "AllowedOAuthFlowsUserPoolClient": True,
        "AllowedOAuthFlows": ["code"],
        "AllowedOAuthScopes": ["openid", "email"],
        "SupportedIdentityProviders": ["COGNITO"],
        "CallbackURLs": callbacks,
        "LogoutURLs": callbacks,
        "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        "PreventUserExistenceErrors": "ENABLED",
        # The page keeps the ID token until it expires (README, Sign-in): an hour.
        "IdTokenValidity": 60,
        "AccessTokenValidity": 60,
        "TokenValidityUnits": {"IdToken": "minutes", "AccessToken": "minutes"},
    }


def find_pool(cognito: CognitoIdentityProviderClient, name: str) -> str | None:
    found = [
        pool["Id"]
        for page in cognito.get_paginator("list_user_pools").paginate(
            PaginationConfig={"PageSize": 60}
        )
        for pool in page["UserPools"]
        if pool.get("Name") == name
    ]
    if len(found) > 1:
        raise DeployError(f"{len(found)} Cognito user pools are named {name}: delete all but one")
    return found[0] if found else None


def find_client(cognito: CognitoIdentityProviderClient, pool_id: str, name: str) -> str | None:
    found = [
        client["ClientId"]
        for page in cognito.get_paginator("list_user_pool_clients").paginate(
            UserPoolId=pool_id, PaginationConfig={"PageSize": 60}
        )
        for client in page["UserPoolClients"]
        if client.get("ClientName") == name
    ]
    if len(found) > 1:
        raise DeployError(f"{len(found)} app clients of {pool_id} are named {name}: delete one")
    return found[0] if found else None


def domain_prefix(account_id: str) -> str:
    # The hosted sign-in's domain prefix is global across AWS: the account's id makes it ours.
    return f"{POOL_NAME}-{account_id}"


def ensure_identity(
    cognito: CognitoIdentityProviderClient, region: str, account_id: str
) -> Identity:
    steps = Steps("identity", 3)
    steps.step(f"the user pool {POOL_NAME}")
    pool_id = find_pool(cognito, POOL_NAME)
    if pool_id:
        steps.note(f"found {pool_id}: reused")
    else:
        pool_id = cognito.create_user_pool(
            PoolName=POOL_NAME,
            # Shoppers sign up with their email address, which Cognito verifies (orders lists
            # the orders of a token's email only when `email_verified`).
            UsernameAttributes=["email"],
            AutoVerifiedAttributes=["email"],
            UsernameConfiguration={"CaseSensitive": False},
            Policies={
                "PasswordPolicy": {
                    "MinimumLength": 12,
                    "RequireUppercase": False,
                    "RequireLowercase": False,
                    "RequireNumbers": False,
                    "RequireSymbols": False,
                }
            },
            AccountRecoverySetting={
                "RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]
            },
            AdminCreateUserConfig={"AllowAdminCreateUserOnly": False},
            UserPoolTags={"project": "emporium"},
        )["UserPool"]["Id"]
        steps.note(f"created {pool_id}")

    steps.step(f"the app client {CLIENT_NAME}")
    client_id = find_client(cognito, pool_id, CLIENT_NAME)
    if client_id:
        steps.note(f"found {client_id}: reused")
    else:
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=CLIENT_NAME,
            GenerateSecret=False,  # a page in a browser keeps no secret: PKCE instead
            **client_settings([LOCAL_CALLBACK]),
        )["UserPoolClient"]["ClientId"]
        steps.note(f"created {client_id}")

    domain = domain_prefix(account_id)
    steps.step(f"the hosted sign-in domain {domain}")
    owner = cognito.describe_user_pool_domain(Domain=domain)["DomainDescription"].get("UserPoolId")
    if owner == pool_id:
        steps.note("found: reused")
    elif owner:
        raise DeployError(f"the Cognito domain {domain} belongs to another user pool, {owner}")
    else:
        cognito.create_user_pool_domain(Domain=domain, UserPoolId=pool_id)
        steps.note("created")
    return Identity(region, pool_id, client_id, domain)


def find_identity(cognito: CognitoIdentityProviderClient, region: str, account_id: str) -> Identity:
    """The identity `make identity` made, for `make deploy`; it makes nothing."""
    pool_id = find_pool(cognito, POOL_NAME)
    client_id = find_client(cognito, pool_id, CLIENT_NAME) if pool_id else None
    if not pool_id or not client_id:
        raise DeployError(f"no Cognito user pool {POOL_NAME} with its client: run `make identity`")
    return Identity(region, pool_id, client_id, domain_prefix(account_id))


def allow_callback(cognito: CognitoIdentityProviderClient, identity: Identity, url: str) -> None:
    """Let sign-in come back to the store at `url` (API Gateway's address) as well."""
    current = cognito.describe_user_pool_client(
        UserPoolId=identity.pool_id, ClientId=identity.client_id
    )["UserPoolClient"].get("CallbackURLs", [])
    wanted = url.rstrip("/") + "/"
    if wanted in current:
        return
    cognito.update_user_pool_client(
        UserPoolId=identity.pool_id,
        ClientId=identity.client_id,
        ClientName=CLIENT_NAME,
        **client_settings([*current, wanted]),
    )
