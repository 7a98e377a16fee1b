"""Every GraphQL document the Railway provider sends. Queries only; each validates against the schema.

Deliberately absent: ``variables`` / ``variablesForServiceDeployment`` (they return secret values).
Whether a database has a public URL is read from variable *names* and TCP proxies only.
"""

from __future__ import annotations

API_TOKEN = """
query BlastwallApiToken {
  apiToken { workspaces { id name } }
}
"""

ME = """
query BlastwallMe {
  me { id email name username workspaces { id name plan } }
}
"""

PROJECT_TOKEN = """
query BlastwallProjectToken {
  projectToken {
    id name projectId environmentId
    project { id name workspaceId }
    environment { id name }
  }
}
"""

WORKSPACE = """
query BlastwallWorkspace($workspaceId: String!) {
  workspace(workspaceId: $workspaceId) { id name plan }
}
"""

WORKSPACE_PROJECTS = """
query BlastwallWorkspaceProjects($workspaceId: String!, $first: Int, $after: String) {
  workspace(workspaceId: $workspaceId) {
    projects(first: $first, after: $after) {
      edges { node { id name workspaceId createdAt deletedAt isPublic } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

EXTERNAL_WORKSPACES = """
query BlastwallExternalWorkspaces {
  externalWorkspaces { id name currentSessionHasAccess projects { id name workspaceId } }
}
"""

PROJECT = """
query BlastwallProject($id: String!) {
  project(id: $id) { id name workspaceId createdAt deletedAt workspace { id name } }
}
"""

PROJECT_ENVIRONMENTS = """
query BlastwallProjectEnvironments($id: String!, $first: Int, $after: String) {
  project(id: $id) {
    environments(first: $first, after: $after) {
      edges { node { id name projectId isEphemeral deletedAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

ENVIRONMENT_SERVICE_INSTANCES = """
query BlastwallServiceInstances($id: String!, $projectId: String, $first: Int, $after: String) {
  environment(id: $id, projectId: $projectId) {
    serviceInstances(first: $first, after: $after) {
      edges { node { id serviceId serviceName environmentId source { image repo } deletedAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

ENVIRONMENT_VOLUME_INSTANCES = """
query BlastwallVolumeInstances($id: String!, $projectId: String, $first: Int, $after: String) {
  environment(id: $id, projectId: $projectId) {
    volumeInstances(first: $first, after: $after) {
      edges {
        node {
          id volumeId serviceId environmentId mountPath sizeMB currentSizeMB state region
          createdAt deletedAt isPendingDeletion
          volume { id name }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

# Names only: Variable has no value field on this connection.
ENVIRONMENT_VARIABLE_NAMES = """
query BlastwallVariableNames($id: String!, $projectId: String, $first: Int, $after: String) {
  environment(id: $id, projectId: $projectId) {
    variables(first: $first, after: $after) {
      edges { node { name serviceId isSealed } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

TCP_PROXIES = """
query BlastwallTcpProxies($environmentId: String!, $serviceId: String!) {
  tcpProxies(environmentId: $environmentId, serviceId: $serviceId) { id domain proxyPort syncStatus }
}
"""

BACKUPS = """
query BlastwallBackups($volumeInstanceId: String!) {
  volumeInstanceBackupList(volumeInstanceId: $volumeInstanceId) {
    id name createdAt expiresAt usedMB referencedMB scheduleId volumeInstanceSizeMB
  }
}
"""

BACKUP_SCHEDULES = """
query BlastwallBackupSchedules($volumeInstanceId: String!) {
  volumeInstanceBackupScheduleList(volumeInstanceId: $volumeInstanceId) {
    id name cron kind retentionSeconds createdAt
  }
}
"""

ALL = {name: value for name, value in dict(globals()).items() if name.isupper() and isinstance(value, str)}
