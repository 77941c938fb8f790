DROP TABLE tenant_settings_changes;
DROP FUNCTION tenant_settings_changes_are_appended_only();

-- The sections' contact and snooze keys back to the flat keys of earlier versions.
UPDATE tenants t
SET settings = jsonb_strip_nulls(jsonb_build_object(
      'vpCustomerSuccess', t.settings #> '{company,vp_customer_success}',
      'ceo', t.settings #> '{company,ceo}',
      'warRoom', t.settings #> '{company,war_room}',
      'snooze_deadline_days', t.settings #> '{tasks,snooze_deadline_days}'))
  || (t.settings - 'company' - 'tasks')
  || CASE
       WHEN (t.settings -> 'company') - 'vp_customer_success' - 'ceo' - 'war_room' <> '{}'::jsonb
         THEN jsonb_build_object('company',
                (t.settings -> 'company') - 'vp_customer_success' - 'ceo' - 'war_room')
       ELSE '{}'::jsonb
     END
  || CASE
       WHEN (t.settings -> 'tasks') - 'snooze_deadline_days' <> '{}'::jsonb
         THEN jsonb_build_object('tasks', (t.settings -> 'tasks') - 'snooze_deadline_days')
       ELSE '{}'::jsonb
     END
WHERE jsonb_typeof(t.settings -> 'company') = 'object'
   OR jsonb_typeof(t.settings -> 'tasks') = 'object';
