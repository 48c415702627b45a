"""The deploy paths' calls to AWS, run by the Makefile's targets (`python -m deploy <command>`).

    check         the credentials and the region (STS): `make cluster` asks before eksctl runs
    identity      the Cognito user pool and app client of sign-in (found and reused)
    push          an ECR repository per image, Docker logged in with an ECR token, the images pushed
    controllers   the AWS Load Balancer Controller and the ACK controllers, each with its IRSA role
    deploy        the chart released with values-eks.yaml, then API Gateway fed the ALB's listener
    teardown      after `make cluster-delete`, what stays on purpose (tables, ECR repositories,
                  Cognito, the control plane's logs), deleted once the cluster's name is typed
    (and `python -m deploy --help`)

Everything talks to AWS through boto3, with the SDK's own credential chain and region
(`AWS_PROFILE`, `AWS_REGION`, ...), so no AWS CLI is needed; `AWS_ENDPOINT_URL` points it at
another endpoint (the tests use a moto server).
"""
