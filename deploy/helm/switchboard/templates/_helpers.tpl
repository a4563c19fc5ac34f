{{/* Chart label value: name-version. */}}
{{- define "switchboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels shared by every object; call with (dict "ctx" $ "component" "proxy"). */}}
{{- define "switchboard.labels" -}}
helm.sh/chart: {{ include "switchboard.chart" .ctx }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: switchboard
{{ include "switchboard.selectorLabels" . }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Immutable selector labels of one component. */}}
{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: switchboard
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Image reference; call with (dict "ctx" $ "image" .Values.proxy.image). */}}
{{- define "switchboard.image" -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/* Proxies sharing fleet-wide rate limits. */}}
{{- define "switchboard.fleetSize" -}}
{{- if gt (int .Values.proxy.fleetSize) 0 -}}
{{- .Values.proxy.fleetSize -}}
{{- else if .Values.proxy.autoscaling.enabled -}}
{{- .Values.proxy.autoscaling.minReplicas -}}
{{- else -}}
{{- .Values.proxy.replicas -}}
{{- end -}}
{{- end -}}

{{/* Downward-API env every pod gets. */}}
{{- define "switchboard.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_UID
  valueFrom:
    fieldRef:
      fieldPath: metadata.uid
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: SWITCHBOARD_FLEET_SIZE
  value: {{ include "switchboard.fleetSize" . | quote }}
- name: SWITCHBOARD_CREDENTIALS_SECRET
  value: {{ .Values.proxy.credentialsSecretName | quote }}
- name: SWITCHBOARD_EGRESS_POLICY
  value: {{ .Values.egress | toJson | quote }}
{{- end -}}
