{{/*
Names, labels and the facts about each component that the templates share.
Component helpers take (dict "ctx" $ "component" "catalog").
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "emporium.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object's name: "<release>-<name>", or the release's name when it
contains the chart's, or fullnameOverride; at most 63 characters (a DNS label). */}}
{{- define "emporium.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<component>": the prefix is cut, never the component, so two components'
names stay apart however long the release's name is. */}}
{{- define "emporium.componentName" -}}
{{- $suffix := printf "-%s" .component }}
{{- $prefix := include "emporium.fullname" .ctx | trunc (int (sub 63 (len $suffix))) | trimSuffix "-" }}
{{- printf "%s%s" $prefix $suffix }}
{{- end }}

{{- define "emporium.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* What selects a component's pods: name, instance and component only, so that a new chart
version or app version never changes a selector (selectors are immutable). */}}
{{- define "emporium.selectorLabels" -}}
app.kubernetes.io/name: {{ include "emporium.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Every pod of the release, whatever its component. */}}
{{- define "emporium.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "emporium.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "emporium.labels" -}}
helm.sh/chart: {{ include "emporium.chart" .ctx }}
{{ include "emporium.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: emporium
{{- end }}

{{/* An image reference from a block {repository, tag, pullPolicy}: (dict "ctx" $ "image" ...). */}}
{{- define "emporium.image" -}}
{{- $registry := .ctx.Values.image.registry | trimSuffix "/" }}
{{- $tag := .image.tag | default .ctx.Values.image.tag | default .ctx.Chart.AppVersion }}
{{- if $registry }}
{{- printf "%s/%s:%s" $registry .image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{- define "emporium.imagePullPolicy" -}}
{{- .image.pullPolicy | default .ctx.Values.image.pullPolicy }}
{{- end }}

{{/*
The services, and what each one uses. One place to change when a service starts using a store
or calling another: the settings, the secrets and the NetworkPolicies follow.
  dynamodb, redis: it gets the store's settings (and, with local.enabled, may reach the stand-in)
  callers:         the components whose pods may call its http port
  secrets:         its environment variable -> the entry of .Values.secrets it comes from
  service:         "http" (http and metrics ports) or "metrics" (the metrics port only)
Public services, those the edge and the Ingress send requests to, are the ones of
files/routes.json.
*/}}
{{- define "emporium.components" -}}
catalog:
  dynamodb: true
  redis: true
  callers: [cart, orders]
  service: http
  secrets:
    CATALOG_ADMIN_TOKEN: catalogAdminToken
    CATALOG_HMAC_KEY: catalogHmacKey
cart:
  dynamodb: true
  redis: false
  callers: [orders]
  service: http
  secrets: {}
orders:
  dynamodb: true
  redis: true
  callers: [fulfillment]
  service: http
  secrets:
    ORDERS_INTERNAL_TOKEN: ordersInternalToken
    ORDERS_HMAC_KEY: ordersHmacKey
fulfillment:
  dynamodb: true
  redis: true
  callers: []
  service: metrics
  secrets:
    FULFILLMENT_ORDERS_TOKEN: ordersInternalToken
ui:
  dynamodb: false
  redis: false
  callers: []
  service: http
  secrets: {}
edge:
  dynamodb: false
  redis: false
  callers: []
  service: http
  secrets: {}
{{- end }}

{{/* The components this release runs, in order, as a list of names. */}}
{{- define "emporium.enabledComponents" -}}
{{- $names := list "catalog" "cart" "orders" "fulfillment" "ui" }}
{{- if .Values.edge.enabled }}
{{- $names = append $names "edge" }}
{{- end }}
{{- toJson $names }}
{{- end }}

{{/* The route table, files/routes.json, longest prefix first (ALB rules are evaluated in order). */}}
{{- define "emporium.routes" -}}
{{- $routes := (.Files.Get "files/routes.json" | fromJson).routes }}
{{- if not $routes }}
{{- fail "files/routes.json has no routes: it must be a copy of services/edge/routes.json" }}
{{- end }}
{{- $byLength := dict }}
{{- range $routes }}
{{- $key := printf "%04d-%s" (sub 1000 (len .prefix)) .prefix }}
{{- $_ := set $byLength $key . }}
{{- end }}
{{- $sorted := list }}
{{- range $key := keys $byLength | sortAlpha }}
{{- $sorted = append $sorted (get $byLength $key) }}
{{- end }}
{{- toJson $sorted }}
{{- end }}

{{/* The services that the route table sends requests to, as a list of names. */}}
{{- define "emporium.publicComponents" -}}
{{- $names := list }}
{{- range (include "emporium.routes" . | fromJsonArray) }}
{{- if not (has .service $names) }}
{{- $names = append $names .service }}
{{- end }}
{{- end }}
{{- toJson $names }}
{{- end }}

{{- define "emporium.redisUrl" -}}
{{- if .Values.redis.url }}
{{- .Values.redis.url }}
{{- else if .Values.local.enabled }}
{{- printf "redis://%s:6379/0" (include "emporium.componentName" (dict "ctx" . "component" "redis")) }}
{{- else }}
{{- fail "redis.url is required without local.enabled: the Redis to use, e.g. rediss://<ElastiCache primary endpoint>:6379/0" }}
{{- end }}
{{- end }}

{{/* A service's URL inside the cluster: (dict "ctx" $ "component" "catalog"). */}}
{{- define "emporium.serviceUrl" -}}
{{- printf "http://%s:8080" (include "emporium.componentName" .) }}
{{- end }}

{{/* Sign-in, as orders and the UI see it: orders.oidc.* and ui.oidc.*, where empty the
development issuer's (local.oidcIssuer) when it runs. The browser reaches that issuer at its
publicUrl; orders fetches its keys by the Service's name inside the cluster. */}}
{{- define "emporium.oidc" -}}
{{- $o := .Values.orders.oidc }}
{{- $u := .Values.ui.oidc }}
{{- $dev := .Values.local.oidcIssuer }}
{{- if $dev.enabled }}
issuer: {{ $o.issuer | default $dev.publicUrl | quote }}
audience: {{ $o.audience | default $dev.clientId | quote }}
jwksUrl: {{ $o.jwksUrl | default (ternary (printf "http://%s:8086/jwks.json" (include "emporium.componentName" (dict "ctx" . "component" "oidc-issuer"))) "" (empty $o.issuer)) | quote }}
authorizeUrl: {{ $u.authorizeUrl | default (printf "%s/authorize" $dev.publicUrl) | quote }}
tokenUrl: {{ $u.tokenUrl | default (printf "%s/token" $dev.publicUrl) | quote }}
clientId: {{ $u.clientId | default $dev.clientId | quote }}
{{- else }}
issuer: {{ $o.issuer | quote }}
audience: {{ $o.audience | quote }}
jwksUrl: {{ $o.jwksUrl | quote }}
authorizeUrl: {{ $u.authorizeUrl | quote }}
tokenUrl: {{ $u.tokenUrl | quote }}
clientId: {{ $u.clientId | quote }}
{{- end }}
{{- end }}

{{/*
A component's settings, the data of its ConfigMap, as YAML. Add a variable here and it reaches
the pods (and rolls them, through the checksum).
*/}}
{{- define "emporium.settings" -}}
{{- $ := .ctx }}
{{- $c := .component }}
{{- $v := index $.Values $c }}
{{- $uses := index (include "emporium.components" . | fromYaml) $c }}
{{- $s := $.Values.settings }}
{{- if ge (int $s.shutdownDelaySeconds) (int $s.gracefulTimeoutSeconds) }}
{{- fail (printf "settings.shutdownDelaySeconds (%v) must be below settings.gracefulTimeoutSeconds (%v): gunicorn stops its workers gracefulTimeoutSeconds after SIGTERM, the delay included" $s.shutdownDelaySeconds $s.gracefulTimeoutSeconds) }}
{{- end }}
PORT: "8080"
METRICS_PORT: "9090"
WEB_CONCURRENCY: {{ $v.webConcurrency | quote }}
GUNICORN_THREADS: {{ $v.threads | quote }}
GRACEFUL_TIMEOUT: {{ $s.gracefulTimeoutSeconds | quote }}
SHUTDOWN_DELAY_SECONDS: {{ $s.shutdownDelaySeconds | quote }}
FORWARDED_ALLOW_IPS: {{ $s.forwardedAllowIps | quote }}
LOG_LEVEL: {{ $s.logLevel | quote }}
{{- with $s.otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
{{- if $uses.dynamodb }}
AWS_REGION: {{ $s.awsRegion | quote }}
DYNAMODB_CREATE_TABLES: {{ ternary "true" "false" $.Values.local.enabled | quote }}
{{- if $.Values.local.enabled }}
AWS_ENDPOINT_URL_DYNAMODB: {{ printf "http://%s:8000" (include "emporium.componentName" (dict "ctx" $ "component" "dynamodb")) | quote }}
{{- /* The emulator takes any credentials: these are not secrets, and no real ones reach it. */}}
AWS_ACCESS_KEY_ID: "local"
AWS_SECRET_ACCESS_KEY: "local"
{{- end }}
{{- end }}
{{- if $uses.redis }}
REDIS_URL: {{ include "emporium.redisUrl" $ | quote }}
{{- end }}
{{- if eq $c "catalog" }}
CATALOG_TABLE: {{ $v.table | quote }}
{{- else if eq $c "cart" }}
CART_TABLE: {{ $v.table | quote }}
CART_CATALOG_URL: {{ include "emporium.serviceUrl" (dict "ctx" $ "component" "catalog") | quote }}
{{- else if eq $c "orders" }}
ORDERS_TABLE: {{ $v.table | quote }}
ORDERS_CART_URL: {{ include "emporium.serviceUrl" (dict "ctx" $ "component" "cart") | quote }}
ORDERS_CATALOG_URL: {{ include "emporium.serviceUrl" (dict "ctx" $ "component" "catalog") | quote }}
{{- $oidc := include "emporium.oidc" $ | fromYaml }}
ORDERS_OIDC_ISSUER: {{ required "orders.oidc.issuer is required: the OpenID issuer of customers' sign-in (on EKS, the Cognito user pool's issuer that make identity prints; on kind, local.oidcIssuer.enabled=true)" $oidc.issuer | quote }}
ORDERS_OIDC_AUDIENCE: {{ required "orders.oidc.audience is required: the audience of the customers' ID tokens (on EKS, the Cognito app client id)" $oidc.audience | quote }}
{{- with $oidc.jwksUrl }}
ORDERS_OIDC_JWKS_URL: {{ . | quote }}
{{- end }}
{{- else if eq $c "fulfillment" }}
FULFILLMENT_TABLE: {{ $v.table | quote }}
FULFILLMENT_ORDERS_URL: {{ include "emporium.serviceUrl" (dict "ctx" $ "component" "orders") | quote }}
{{- else if eq $c "ui" }}
{{- $oidc := include "emporium.oidc" $ | fromYaml }}
{{- with $oidc.authorizeUrl }}
UI_OIDC_AUTHORIZE_URL: {{ . | quote }}
{{- end }}
{{- with $oidc.tokenUrl }}
UI_OIDC_TOKEN_URL: {{ . | quote }}
{{- end }}
{{- with $oidc.clientId }}
UI_OIDC_CLIENT_ID: {{ . | quote }}
{{- end }}
{{- else if eq $c "edge" }}
{{- range (include "emporium.routes" $ | fromJsonArray) }}
{{ printf "EDGE_UPSTREAM_%s" (.service | upper | replace "-" "_") }}: {{ include "emporium.serviceUrl" (dict "ctx" $ "component" .service) | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The ConfigMap's data: the settings and the component's env extras, which may not replace a
setting of the chart or a secret. */}}
{{- define "emporium.configData" -}}
{{- $data := include "emporium.settings" . | fromYaml }}
{{- $uses := index (include "emporium.components" . | fromYaml) .component }}
{{- range $name, $value := (index .ctx.Values .component).env }}
{{- if or (hasKey $data $name) (hasKey $uses.secrets $name) (eq $name "REDIS_AUTH_TOKEN") }}
{{- fail (printf "%s.env.%s: the chart sets %s itself; change it through its own value (see values.yaml)" $.component $name $name) }}
{{- end }}
{{- $_ := set $data $name (toString $value) }}
{{- end }}
{{- toYaml $data }}
{{- end }}

{{/* The name of the Secret the chart makes with secrets.create. */}}
{{- define "emporium.secretName" -}}
{{- include "emporium.componentName" (dict "ctx" . "component" "secrets") }}
{{- end }}

{{/*
Where one secret comes from, as {name, key}, or nothing for an optional secret that is not
there: (dict "ctx" $ "secret" "catalogAdminToken" "required" true). Fails, naming the values to
set, when a required one has no source.
*/}}
{{- define "emporium.secretRef" -}}
{{- $entry := index .ctx.Values.secrets .secret }}
{{- if $entry.existingSecret }}
{{- toJson (dict "name" $entry.existingSecret "key" $entry.key) }}
{{- else if and .ctx.Values.secrets.create (or $entry.value .required) }}
{{- $value := required (printf "secrets.%s.value is required with secrets.create=true: give it at install, e.g. --set-string secrets.%s.value=\"$(openssl rand -hex 24)\" (or name an existing Secret in secrets.%s.existingSecret)" .secret .secret .secret) $entry.value }}
{{- $minimum := ternary 32 16 (hasSuffix "HmacKey" .secret) }}
{{- if lt (len $value) $minimum }}
{{- fail (printf "secrets.%s.value is too short: it needs at least %d characters" .secret $minimum) }}
{{- end }}
{{- toJson (dict "name" (include "emporium.secretName" .ctx) "key" .secret) }}
{{- else if .required }}
{{- fail (printf "secrets.%s: no source. Name an existing Secret (secrets.%s.existingSecret, and .key), or set secrets.create=true and give secrets.%s.value at install" .secret .secret .secret) }}
{{- end }}
{{- end }}

{{/* A component's secret environment variables as {VARIABLE: {name, key}}. */}}
{{- define "emporium.secretRefs" -}}
{{- $uses := index (include "emporium.components" . | fromYaml) .component }}
{{- $refs := dict }}
{{- range $variable, $secret := $uses.secrets }}
{{- $_ := set $refs $variable (include "emporium.secretRef" (dict "ctx" $.ctx "secret" $secret "required" true) | fromJson) }}
{{- end }}
{{- if $uses.redis }}
{{- with include "emporium.secretRef" (dict "ctx" .ctx "secret" "redisAuthToken" "required" false) }}
{{- $_ := set $refs "REDIS_AUTH_TOKEN" (fromJson .) }}
{{- end }}
{{- end }}
{{- toJson $refs }}
{{- end }}

{{/* The env entries of a component's secrets. */}}
{{- define "emporium.secretEnv" -}}
{{- range $variable, $ref := include "emporium.secretRefs" . | fromJson }}
- name: {{ $variable }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
{{- end }}
{{- end }}

{{/* A digest of what a component's pods read from Secrets: the chart's own values (so a new
value rolls the pods) and the names of existing Secrets (whose contents Helm cannot see: after
rotating one, `kubectl rollout restart`). */}}
{{- define "emporium.secretsChecksum" -}}
{{- $parts := list }}
{{- range $variable, $ref := include "emporium.secretRefs" . | fromJson }}
{{- $value := "" }}
{{- if eq $ref.name (include "emporium.secretName" $.ctx) }}
{{- $value = (index $.ctx.Values.secrets $ref.key).value }}
{{- end }}
{{- $parts = append $parts (printf "%s=%s/%s:%s" $variable $ref.name $ref.key $value) }}
{{- end }}
{{- $parts | join "\n" | sha256sum }}
{{- end }}

{{/* The hardened pod security context of every pod of the release. */}}
{{- define "emporium.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The hardened container security context of every container of the release. */}}
{{- define "emporium.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The writable places of a read-only root: /tmp, and /dev/shm in memory for gunicorn's
worker heartbeats (emporium/gunicorn_conf.py). */}}
{{- define "emporium.scratchVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
- name: shm
  emptyDir:
    medium: Memory
    sizeLimit: 16Mi
{{- end }}

{{- define "emporium.scratchMounts" -}}
- name: tmp
  mountPath: /tmp
- name: shm
  mountPath: /dev/shm
{{- end }}

{{/* Seconds Kubernetes waits after SIGTERM before SIGKILL: above gunicorn's graceful timeout
and the shutdown delay, so gunicorn, not the kubelet, ends the pod. */}}
{{- define "emporium.terminationGracePeriod" -}}
{{- add .Values.settings.gracefulTimeoutSeconds .Values.settings.shutdownDelaySeconds 5 }}
{{- end }}

{{/*
The DynamoDB tables, as each service creates them where DYNAMODB_CREATE_TABLES is on (its
store.py, create_table): on-demand, string keys, the partition key, each global secondary index
as (partition, sort) projecting everything, and the TTL attribute.
tests/unit/chart/test_aws.py compares the two.
*/}}
{{- define "emporium.tables" -}}
catalog:
  key: pk
  indexes:
    byCategory: [category, id]
    byKind: [kind, id]
cart:
  key: id
  indexes: {}
  ttl: expiresAt
orders:
  key: pk
  indexes:
    byEmail: [email, createdKey]
    outbox: [outbox, id]
fulfillment:
  key: pk
  indexes: {}
{{- end }}

{{/* A route's API Gateway route keys: "/api/catalog/" -> "ANY /api/catalog" and
"ANY /api/catalog/{proxy+}" (Prefix matching, as the edge and the Ingress do); "/" -> "$default". */}}
{{- define "emporium.routeKeys" -}}
{{- if eq .prefix "/" }}
{{- toJson (list "$default") }}
{{- else }}
{{- $path := trimSuffix "/" .prefix }}
{{- toJson (list (printf "ANY %s" $path) (printf "ANY %s/{proxy+}" $path)) }}
{{- end }}
{{- end }}

{{/* The URL the load Job's shoppers reach: load.url, else the edge inside the cluster. */}}
{{- define "emporium.loadUrl" -}}
{{- if .Values.load.url }}
{{- .Values.load.url }}
{{- else if .Values.edge.enabled }}
{{- include "emporium.serviceUrl" (dict "ctx" . "component" "edge") }}
{{- else }}
{{- fail "load.url is required without edge.enabled: the store's entry point that the load Job's shoppers reach (e.g. the API Gateway's or the ALB's URL)" }}
{{- end }}
{{- end }}

{{/* The load Job's pod template (metadata and spec): what runs, once, for load.enabled. */}}
{{- define "emporium.loadPodTemplate" -}}
{{- $load := .Values.load }}
{{- if le (float64 $load.spawnRate) 0.0 }}
{{- fail (printf "load.spawnRate (%v) must be above 0: the shoppers started per second" $load.spawnRate) }}
{{- end -}}
metadata:
  labels:
    {{- include "emporium.labels" (dict "ctx" . "component" "load") | nindent 4 }}
spec:
  restartPolicy: Never
  # The namespace's default ServiceAccount, without a token: the pod calls no Kubernetes API.
  automountServiceAccountToken: false
  enableServiceLinks: false
  securityContext:
    {{- include "emporium.podSecurityContext" . | nindent 4 }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: load
      image: {{ include "emporium.image" (dict "ctx" . "image" $load.image) | quote }}
      imagePullPolicy: {{ include "emporium.imagePullPolicy" (dict "ctx" . "image" $load.image) }}
      command: ["python", "/opt/load/run.py"]
      args:
        - --url
        - {{ include "emporium.loadUrl" . | quote }}
        - --users
        - {{ $load.users | quote }}
        - --spawn-rate
        - {{ $load.spawnRate | quote }}
        - --duration
        - {{ $load.durationSeconds | quote }}
        {{- if ne (toString $load.pace) "" }}
        - --pace
        - {{ $load.pace | quote }}
        {{- end }}
      resources:
        {{- toYaml $load.resources | nindent 8 }}
      securityContext:
        {{- include "emporium.containerSecurityContext" . | nindent 8 }}
      volumeMounts:
        {{- include "emporium.scratchMounts" . | nindent 8 }}
  volumes:
    {{- include "emporium.scratchVolumes" . | nindent 4 }}
{{- end }}

{{/* The load Job's name: "<fullname>-load-" and a digest of its pod template, which cannot
change once the Job exists: whatever changes what runs (a setting of the run, the image, the
chart's version in the labels) names a new Job, and the same run keeps its Job. */}}
{{- define "emporium.loadJobName" -}}
{{- $digest := include "emporium.loadPodTemplate" . | sha256sum | trunc 8 }}
{{- include "emporium.componentName" (dict "ctx" . "component" (printf "load-%s" $digest)) }}
{{- end }}
